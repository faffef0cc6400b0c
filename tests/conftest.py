"""Shared test settings: few torch threads (the CI machine has 2 cores) and real-data paths."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

torch.set_num_threads(int(os.environ.get("DECORE_TEST_THREADS", "2")))

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def temporary_cache(tmp_path_factory):
    """Cached weights (the default task's LeNet-5) go to a session folder, never the home;
    subprocesses inherit it through the environment."""
    patch = pytest.MonkeyPatch()
    patch.setenv("DECORE_CACHE", str(tmp_path_factory.mktemp("decore-cache")))
    yield
    patch.undo()


@pytest.fixture
def shared_data() -> Path:
    """The development copies of the real data sets; skips the test when they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def offline_wandb(tmp_path, monkeypatch) -> Path:
    """W&B in offline mode with every folder it writes under tmp_path: no server, no home."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "home" / var.lower()))
    monkeypatch.setenv("WANDB_SILENT", "true")
    return tmp_path


class _Payload:
    """Unpickling this object creates ``marker``: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def crafted_file() -> Callable[[Path, Path], Path]:
    """Writes a torch file whose full unpickling would create ``marker`` (a file from an
    attacker, for the tests that prove it is refused)."""

    def write(path: Path, marker: Path) -> Path:
        torch.save({"weights": torch.zeros(3), "evil": _Payload(marker)}, path)
        return path

    return write
