"""Tests for sklearn_robust._torch: devices, float32 conversion, seeding, eval mode, chunks."""

import numpy as np
import pytest
import torch

from sklearn_robust._torch import (
    eval_mode,
    forward_in_chunks,
    module_device,
    resolve_device,
    seed_from,
    to_numpy,
    to_tensor,
    torch_generator,
)
from sklearn_robust._validation import check_int, label_indices

from .conftest import cuda


def test_auto_device_follows_cuda_availability():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected


def test_explicit_devices():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_unknown_device_is_a_value_error():
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("tpu")


def test_cuda_without_cuda_is_a_clear_error(monkeypatch):
    # A machine without CUDA, on every machine: the test needs no skip.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.float32, np.uint8])
def test_to_tensor_is_float32_and_round_trips(dtype):
    X = np.arange(12).reshape(3, 4).astype(dtype)
    tensor = to_tensor(X)
    assert tensor.dtype == torch.float32 and tensor.is_contiguous()
    np.testing.assert_array_equal(to_numpy(tensor), X.astype(np.float32))


def test_to_tensor_accepts_non_contiguous_and_tensors():
    X = np.arange(12.0).reshape(3, 4)[:, ::2]
    np.testing.assert_array_equal(to_numpy(to_tensor(X)), X)
    double = torch.ones(2, 2, dtype=torch.float64, requires_grad=True)
    assert to_tensor(double).dtype == torch.float32
    assert isinstance(to_numpy(double * 2), np.ndarray)  # detaches


def test_seeding_is_reproducible():
    assert seed_from(3) == seed_from(3)
    assert seed_from(3) != seed_from(4)
    rng = np.random.RandomState(0)
    assert seed_from(rng) != seed_from(rng)  # a RandomState instance advances
    first = torch.randn(5, generator=torch_generator(11))
    second = torch.randn(5, generator=torch_generator(11))
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    assert not torch.equal(first, torch.randn(5, generator=torch_generator(12)))


def test_module_device_reads_parameters_then_buffers_else_cpu():
    assert module_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert module_device(torch.nn.ReLU()) == torch.device("cpu")
    buffers_only = torch.nn.BatchNorm1d(3, affine=False)
    assert module_device(buffers_only) == torch.device("cpu")


@cuda
def test_module_device_on_cuda():
    buffers_only = torch.nn.BatchNorm1d(3, affine=False)
    assert module_device(buffers_only.to("cuda")).type == "cuda"
    assert module_device(torch.nn.Linear(2, 2).to("cuda")).type == "cuda"


def test_eval_mode_restores_each_submodule_own_flag():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(), torch.nn.Dropout())
    net.train()
    net[2].eval()  # a part kept in eval mode inside a training network
    with eval_mode(net) as inside:
        assert inside is net
        assert not any(m.training for m in net.modules())
    assert net.training and net[1].training and not net[2].training


def test_eval_mode_restores_the_flags_when_the_block_raises():
    net = torch.nn.Sequential(torch.nn.Dropout()).train()
    with pytest.raises(RuntimeError, match="boom"), eval_mode(net):
        raise RuntimeError("boom")
    assert net.training and net[0].training


@pytest.mark.parametrize("chunk_size", [1, 3, 5, 100])
def test_forward_in_chunks_matches_one_pass(chunk_size):
    X = np.arange(20.0).reshape(5, 4)
    calls = []

    def row_sums(rows):
        calls.append(len(rows))
        return rows.sum(axis=1)

    np.testing.assert_array_equal(forward_in_chunks(row_sums, X, chunk_size), X.sum(axis=1))
    assert max(calls) <= chunk_size and sum(calls) == len(X)
    tensor = torch.from_numpy(X)
    torch.testing.assert_close(
        forward_in_chunks(lambda rows: rows * 2, tensor, chunk_size), 2 * tensor
    )


def test_forward_in_chunks_concatenates_tuples_and_passes_empty_input_once():
    X = np.arange(6.0).reshape(3, 2)
    low, high = forward_in_chunks(lambda rows: (rows.min(axis=1), rows.max(axis=1)), X, 2)
    np.testing.assert_array_equal(low, [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(high, [1.0, 3.0, 5.0])
    linear = torch.nn.Linear(2, 7)
    with torch.no_grad():
        empty = forward_in_chunks(linear, torch.zeros(0, 2), 4)
    assert empty.shape == (0, 7)


def test_check_int():
    assert check_int(np.int64(4), "n", minimum=2) == 4
    for bad in (1, 2.0, True, "3", None):
        with pytest.raises(ValueError, match="n must be an integer >= 2"):
            check_int(bad, "n", minimum=2)


def test_label_indices():
    classes = np.array(["a", "b", "c"])
    np.testing.assert_array_equal(label_indices(classes, np.array(["c", "a"])), [2, 0])
    assert label_indices([0, 1], np.array([[1, 0], [0, 0]])).shape == (2, 2)
    with pytest.raises(ValueError, match=r"does not know: \['d', 'z'\]"):
        label_indices(classes, np.array(["z", "a", "d"]))


def test_to_tensor_copies_a_read_only_array_without_a_warning():
    import warnings

    from sklearn_robust._torch import to_tensor

    frozen = np.arange(6, dtype=np.float32).reshape(2, 3)
    frozen.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tensor = to_tensor(frozen)
    tensor[0, 0] = 7.0
    assert frozen[0, 0] == 0.0  # the caller's array is left alone
