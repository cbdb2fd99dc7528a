import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import settings

# The real CIFAR-10 subset kept beside the project (../shared/data), for the tests on real data;
# they skip, saying so, where it is absent.
CIFAR_SUBSET = Path(__file__).resolve().parents[2] / "shared/data/cifar10-subset/cifar10-subset.npz"

# CI replays the same property-test examples on every run, so that a landing
# never hinges on a draw; locally hypothesis keeps exploring new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _seed_everything():
    """Every test starts from the same global seeds, so a flaky draw is a real bug."""
    np.random.seed(0)  # noqa: NPY002 - code under test may use the legacy global RNG
    torch.manual_seed(0)
    yield


def pytest_collection_modifyitems(config, items):
    """Skip the tests marked ``cuda`` where no CUDA device is available."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


# The one way a test says it needs CUDA: ``@cuda``, the registered ``cuda`` marker,
# which the hook above turns into a skip; ``-m cuda`` runs just these tests.
cuda = pytest.mark.cuda


def interrupt_second_call(monkeypatch, owner, name):
    """Make ``owner.name`` raise KeyboardInterrupt (as Ctrl-C does) on its second call.

    Returns the list of calls made, so a test can check where training stopped.
    """
    original = getattr(owner, name)
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(None)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, interrupted)
    return calls
