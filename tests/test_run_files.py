"""Files a user may be handed load without running code; one writer per run folder; exports
compute what the pruned network computes; W&B without a network falls back to offline."""

import os
import pickletools
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch

from agents.native.reinforce import DecoreAgent
from agents.run import tracking
from agents.run.export import export
from agents.run.folders import RunError, RunFiles, RunLock
from decore_env import models
from decore_env.channels.gates import ChannelGates
from decore_env.channels.surgery import (
    PrunedFileError,
    connected_keep,
    load_pruned,
    prune,
    save_pruned,
)
from decore_env.common.files import CheckpointError, UnreadableFileError, load_weights, read_tensors


def test_the_crafted_file_really_carries_a_call(tmp_path, crafted_file):
    """Guards the tests below, without unpickling anything: the file's pickle names
    ``Path.touch`` and calls it (REDUCE), which a full unpickler would run."""
    path = crafted_file(tmp_path / "evil.pt", tmp_path / "ran")
    with zipfile.ZipFile(path) as archive:
        data = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(data)]
    assert ("SHORT_BINUNICODE", "touch") in ops or ("BINUNICODE", "touch") in ops, ops
    assert any(name == "REDUCE" for name, _ in ops)
    assert not (tmp_path / "ran").exists()


def _lenet_pruned(tmp_path: Path, name: str | None = "lenet5") -> tuple[torch.nn.Module, Path]:
    torch.manual_seed(0)
    model = models.create("lenet5").eval()
    x = torch.zeros(1, 1, 28, 28)
    gates = ChannelGates(model, x)
    mask = torch.rand(gates.n_agents, generator=torch.Generator().manual_seed(1)) > 0.5
    keep = connected_keep(gates.split(mask), gates.groups, model)
    pruned = prune(model, keep, x).eval()
    path = tmp_path / "run" / "pruned.pt"
    save_pruned(path, pruned, keep, (1, 28, 28), name, 10)
    return pruned, path


@pytest.mark.parametrize("loader", ["read_tensors", "agent", "checkpoint", "pruned"])
def test_crafted_pickles_are_refused_and_run_no_code(tmp_path, loader, crafted_file):
    marker = tmp_path / "ran"
    path = crafted_file(tmp_path / "evil.pt", marker)
    calls = {
        "read_tensors": lambda: read_tensors(path),
        "agent": lambda: DecoreAgent.load(path, env=None),
        "checkpoint": lambda: load_weights(models.create("lenet5"), path),
        "pruned": lambda: load_pruned(path),
    }
    with pytest.raises(ValueError, match="not a readable tensor file"):
        calls[loader]()
    assert not marker.exists()


def test_pruned_network_round_trips_through_the_safe_format(tmp_path):
    pruned, path = _lenet_pruned(tmp_path)
    state = torch.load(path, weights_only=True)
    assert state["model"] == "lenet5" and set(state["keep"]) == {"0", "3", "7", "9"}
    loaded = load_pruned(path)
    x = torch.randn(5, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded(x), pruned(x))


def test_a_network_of_your_own_needs_its_fresh_instance(tmp_path):
    pruned, path = _lenet_pruned(tmp_path, name=None)
    with pytest.raises(PrunedFileError, match="pass a fresh instance"):
        load_pruned(path)
    loaded = load_pruned(path, model=models.create("lenet5"))
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded(x), pruned(x))


def test_a_pruned_file_is_not_taken_for_baseline_weights(tmp_path):
    _, path = _lenet_pruned(tmp_path)
    with pytest.raises(CheckpointError, match="is a pruned network, not baseline weights"):
        load_weights(models.create("lenet5"), path)


@pytest.mark.parametrize("fmt", ["pt2", "onnx"])
def test_export_computes_what_the_pruned_network_computes(tmp_path, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnxscript")
    pruned, path = _lenet_pruned(tmp_path)
    out, max_diff = export(path.parent, fmt)
    assert out.is_file() and max_diff <= 1e-5
    x = torch.randn(7, 1, 28, 28)  # a batch size the export was not traced with
    with torch.no_grad():
        expected = pruned(x)
        if fmt == "pt2":
            got = torch.export.load(out).module()(x)
        else:
            import onnxruntime

            session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
            name = session.get_inputs()[0].name
            got = torch.from_numpy(session.run(None, {name: x.numpy()})[0])
    assert (got - expected).abs().max() <= 1e-5


def test_unreadable_files_get_one_clear_error(tmp_path):
    for content in (b"", os.urandom(64)):
        path = tmp_path / "bad.pt"
        path.write_bytes(content)
        with pytest.raises(UnreadableFileError, match="is not a readable tensor file"):
            read_tensors(path)


def test_the_run_lock_refuses_a_second_writer_and_removes_stale_temp_files(tmp_path):
    files = RunFiles(tmp_path / "run")
    files.root.mkdir()
    stale = files.root / ".state.pt.abc123.tmp"
    stale.write_bytes(b"half a file")
    with RunLock(files):
        assert not stale.exists()
        with pytest.raises(RunError, match="another decore process is writing to"):
            RunLock(files).__enter__()
        code = (
            "import pathlib; from agents.run.folders import RunFiles, RunLock; "
            f"RunLock(RunFiles(pathlib.Path({str(files.root)!r}))).__enter__()"
        )
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert other.returncode != 0 and "another decore process" in other.stderr
    with RunLock(files):  # released on exit
        pass


def test_two_runs_on_one_folder_race_and_exactly_one_proceeds(tmp_path):
    out = tmp_path / "run"
    args = [
        sys.executable, "-m", "agents.run.cli", "demo", "--out", str(out), "--no-progress",
        "--baseline-epochs", "1", "--policy-epochs", "1", "--finetune-epochs", "0",
    ]  # fmt: skip
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    procs.append(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert "another decore process is writing" in refused or "already holds a run" in refused
    assert "Traceback" not in refused
    assert (out / "report.json").is_file()


def test_wandb_without_a_network_goes_offline_in_the_run_folder(tmp_path, monkeypatch, capsys):
    """A key but no server: one line after the timeout, then an offline run in the folder."""
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # discard port: refused
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(tracking, "INIT_TIMEOUT_S", 2.0)
    monkeypatch.setattr(tracking, "LOGIN_TIMEOUT_S", 1.0)
    run_dir = tmp_path / "run"
    start = time.perf_counter()
    tracker = tracking.WandbTracker("decore-test", {"a": 1}, run_dir)
    waited = time.perf_counter() - start
    tracker.log({"x": 1.0}, 1)
    run_dir.joinpath("pruned.pt").write_bytes(b"weights")
    tracker.log_artifact("pruned", "model", [run_dir / "pruned.pt"])
    tracker.finish()
    assert list((run_dir / "wandb").glob("offline-run-*/*.wandb"))
    staged = [p for p in (tmp_path / "home").rglob("*") if p.is_file() and "logs" not in p.parts]
    assert staged == []  # no copies of the run's files under the user's home
    assert waited < 30
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("W&B:")]
    assert len(notes) == 1 and "wandb sync" in notes[0]
