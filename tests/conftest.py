"""Shared fixtures. Tests that need real MNIST read it from $EBGAN_TF_DATA_DIR (CI points it at
../shared/data) and are skipped, with the reason, only where the files are truly absent."""

import os
from pathlib import Path

import pytest

# Quiet TensorFlow's C++ start-up logging; it hides test output without telling anything.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_FALLBACK_DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_configure(config):
    config.addinivalue_line("markers", "regression: fixed-budget score regressions on real MNIST")
    config.addinivalue_line("markers", "slow: takes more than ~30 s on 2 cores")


@pytest.fixture(scope="session")
def mnist_data_dir() -> Path:
    """The folder holding mnist/*-ubyte.gz: $EBGAN_TF_DATA_DIR, else ../shared/data beside the repo."""
    env = os.environ.get("EBGAN_TF_DATA_DIR")
    folder = Path(env) if env else _FALLBACK_DATA_DIR
    if not (folder / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST is absent: no mnist/ IDX files under {folder} "
                    "(set EBGAN_TF_DATA_DIR to a folder containing mnist/)")
    return folder
