"""Test setup: never touch the network (an accidental hub id fails fast instead of retrying)."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


import pytest  # noqa: E402


@pytest.fixture
def device():
    """The device of the tests that take one: `MGCMT_TEST_DEVICE` (`cpu` by default, `cuda` on a GPU machine:
    benchmarks/gpu.sh sets it). A CUDA request without a GPU skips, with the reason."""
    import torch

    name = os.environ.get("MGCMT_TEST_DEVICE", "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip(f"MGCMT_TEST_DEVICE={name} but torch sees no GPU")
    return torch.device(name)
