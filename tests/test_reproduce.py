"""benchmarks/reproduce.py end to end at tiny settings on a fake CIFAR-10 folder, and its
one-line refusals."""

import csv
import importlib.util
import sys
import warnings
from pathlib import Path

import pytest
import torch
from torchvision.io import write_png

from decore_env import models

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "reproduce.py"


@pytest.fixture(scope="module")
def reproduce():
    spec = importlib.util.spec_from_file_location("reproduce", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["reproduce"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def one_thread():
    """One torch thread: on a busy 2-core machine two threads spin-wait for each other and a
    run takes 30 times longer."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def fake_cifar(root: Path, classes: int = 10, train: int = 4, test: int = 2) -> Path:
    """``classes`` folders of random 3x32x32 PNGs in train/ and test/."""
    gen = torch.Generator().manual_seed(0)
    for split, count in (("train", train), ("test", test)):
        for c in range(classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(count):
                image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8, generator=gen)
                with warnings.catch_warnings():  # torchvision 0.29 deprecates its encoders
                    warnings.simplefilter("ignore", DeprecationWarning)
                    write_png(image, str(folder / f"{i}.png"))
    return root


def test_one_row_runs_end_to_end_into_the_csv_and_the_table(
    reproduce, tmp_path, monkeypatch, one_thread
):
    monkeypatch.setattr("agents.run.pipeline.LATENCY_BATCH", 2)  # the paper's 256 is slow here
    data = fake_cifar(tmp_path / "cifar")
    out = tmp_path / "results"
    argv = [
        "--data", str(data), "--rows", "resnet56-DECORE-200", "--modes", "lambda",
        "--baseline-epochs", "1", "--policy-epochs", "1", "--finetune-epochs", "1",
        "--batch-size", "8", "--device", "cpu", "--no-progress",
        "--runs", str(tmp_path / "runs"), "--out-dir", str(out),
    ]  # fmt: skip
    assert reproduce.main(argv) == 0
    with (out / "reproduce.csv").open(newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert (row["row"], row["mode"], row["seed"], row["lam"]) == (
        "resnet56-DECORE-200", "lambda", "0", "200"
    )  # fmt: skip
    assert float(row["break_even"]) == pytest.approx(200 / 201)
    assert 0 <= float(row["train_accuracy"]) <= 1 and row["git_commit"]
    assert int(row["params_after"]) <= int(row["params_before"])
    assert row["command"].startswith("python benchmarks/reproduce.py --data")
    table = (out / "reproduce.md").read_text()
    assert "| DECORE-200 | paper | 93.26 | +0.00 | 0.43M (49.0%) | 62.93M (49.9%) | 200 |" in table
    assert "| DECORE-200 | by lambda, seed 0 |" in table  # random images: below break-even
    assert "dropping never pays" in table
    assert "| DECORE-500 | budget | not yet measured |" in table
    # The same command again: the row is done, nothing reruns; --render alone rewrites the table.
    assert reproduce.main(argv) == 0
    assert len((out / "reproduce.csv").read_text().splitlines()) == 2
    (out / "reproduce.md").unlink()
    assert reproduce.main(["--render", "--out-dir", str(out)]) == 0
    assert (out / "reproduce.md").read_text() == table


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: fake_cifar(tmp / "nine", classes=9), "is not a CIFAR-10 data folder"),
        (lambda tmp: tmp / "missing", "is not a CIFAR-10 data folder"),
    ],
)
def test_a_folder_without_the_cifar10_layout_is_refused_in_one_line(
    reproduce, tmp_path, capsys, make, message
):
    argv = ["--data", str(make(tmp_path)), "--out-dir", str(tmp_path / "out")]
    assert reproduce.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "reproduce.csv").exists()


def test_a_checkpoint_of_another_network_is_refused_in_one_line(reproduce, tmp_path, capsys):
    path = tmp_path / "resnet56.pt"
    torch.save({"state_dict": models.create("resnet56").state_dict()}, path)
    argv = ["--data", str(tmp_path), "--checkpoint", f"vgg16={path}"]
    assert reproduce.main([*argv, "--out-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: checkpoint {path} does not fit the model")
    assert len(err.strip().splitlines()) == 1
