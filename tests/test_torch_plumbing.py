"""Tests for sklearn_robust._torch: device choice, float32 conversion, seeding."""

import numpy as np
import pytest
import torch

from sklearn_robust._torch import resolve_device, seed_from, to_numpy, to_tensor, torch_generator


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


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_is_a_clear_error():
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
