"""Shared test settings: few torch threads (the CI machine has 2 cores) and real-data paths."""

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(int(os.environ.get("DECORE_TEST_THREADS", "2")))

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The development copies of the real data sets; skips the test when they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA
