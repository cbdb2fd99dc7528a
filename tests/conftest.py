import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_everything():
    """Every test starts from the same global seeds, so a flaky draw is a real bug."""
    np.random.seed(0)  # noqa: NPY002 - code under test may use the legacy global RNG
    torch.manual_seed(0)
    yield


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
