import pytest
import torch

# CI has 2 cores; one torch thread per test process keeps runs predictable and avoids oversubscription.
torch.set_num_threads(1)


def pytest_addoption(parser):
    parser.addoption(
        "--device",
        default="cpu",
        help="torch device of the device-agnostic tests (tests/test_device.py): cpu, cuda, cuda:1, mps",
    )


@pytest.fixture(scope="session")
def device(request) -> torch.device:
    """The --device of this run; its tests skip, saying why, where that device is absent."""
    name = request.config.getoption("--device")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise pytest.UsageError(f"--device {name!r}: {e}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        pytest.skip(f"--device {name}: CUDA is not available on this machine")
    if dev.type == "cuda" and (dev.index or 0) >= torch.cuda.device_count():
        pytest.skip(f"--device {name}: only {torch.cuda.device_count()} CUDA devices here")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        pytest.skip(f"--device {name}: MPS is not available on this machine")
    return dev
