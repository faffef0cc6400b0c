"""Data sets and the device-resident loader (CPU here; the loader runs the same code on CUDA)."""

import importlib.resources
import tarfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from decore_env.data.loader import Augment, TensorLoader, default_augment
from decore_env.data.sets import DATASET_NAMES, load_dataset
from decore_env.data.splits import DatasetError

RAW = ((0.0,), (1 / 255,))  # mean/std that make the loader return the raw pixel values


@pytest.fixture(scope="module")
def embedded():
    return load_dataset("embedded")


def batches(loader: TensorLoader, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [loader.next_batch() for _ in range(n)]


def same(a: list, b: list) -> bool:
    return all(
        torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b, strict=True)
    )


def test_embedded_set_is_mnist_shaped_balanced_and_small(embedded):
    assert embedded.train_x.dtype == embedded.test_x.dtype == torch.uint8
    assert embedded.train_y.dtype == embedded.test_y.dtype == torch.int64
    assert embedded.train_x.shape[1:] == embedded.test_x.shape[1:] == (1, 28, 28)
    assert (len(embedded.train_x), len(embedded.val_x), len(embedded.test_x)) == (
        10_000,
        2_000,
        6_000,
    )
    assert len(embedded.train_x) == len(embedded.train_y)
    for y in (torch.cat([embedded.train_y, embedded.val_y]), embedded.test_y):
        counts = torch.bincount(y, minlength=10)
        assert len(counts) == 10 and (counts == counts[0]).all()
    assert embedded.num_classes == 10 and embedded.name == "embedded"
    assert 0.1 < embedded.mean[0] < 0.16 and 0.28 < embedded.std[0] < 0.34
    size = importlib.resources.files("decore_env").joinpath("assets/mnist_subset.npz")
    assert len(size.read_bytes()) <= 5 * 1024 * 1024


def test_loader_is_seeded(embedded):
    def make(seed: int) -> TensorLoader:
        return TensorLoader(
            embedded.train_x,
            embedded.train_y,
            embedded.mean,
            embedded.std,
            32,
            augment=default_augment(embedded),
            seed=seed,
        )

    assert same(batches(make(1), 3), batches(make(1), 3))
    assert not same(batches(make(1), 3), batches(make(2), 3))


@pytest.mark.parametrize(("drop_last", "expected"), [(False, 4), (True, 3)])
def test_batch_count(drop_last, expected):
    x, y = torch.zeros(100, 1, 8, 8, dtype=torch.uint8), torch.arange(100)
    loader = TensorLoader(x, y, *RAW, 30, drop_last=drop_last)
    seen = [yb for _, yb in loader]
    assert len(loader) == len(seen) == expected
    assert sum(map(len, seen)) == (90 if drop_last else 100)
    if not drop_last:  # every sample exactly once per epoch
        assert torch.equal(torch.cat(seen).sort().values, y)


def test_crop_is_a_window_of_the_padded_image(embedded):
    x = embedded.train_x[:64]
    loader = TensorLoader(x, embedded.train_y[:64], *RAW, 64, shuffle=False, augment=Augment(2))
    out, _ = loader.next_batch()
    assert out.shape == x.shape and out.dtype == torch.float32
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2)).float()
    shifts = []
    for img, pad in zip(out.round(), padded, strict=True):
        windows = [
            (dy, dx)
            for dy in range(5)
            for dx in range(5)
            if torch.equal(pad[:, dy : dy + 28, dx : dx + 28], img)
        ]
        assert windows
        shifts.append(windows[0])
    assert len(set(shifts)) > 5  # offsets vary across the batch


def test_flip_mirrors_some_images():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.uint8).view(2, 3, 4, 5).repeat(32, 1, 1, 1)
    loader = TensorLoader(x, torch.zeros(64), *RAW, 64, shuffle=False, augment=Augment(flip=True))
    out = loader.next_batch()[0].round()
    flipped = [torch.equal(o, xi.flip(-1).float()) for o, xi in zip(out, x, strict=True)]
    kept = [torch.equal(o, xi.float()) for o, xi in zip(out, x, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 10 < sum(flipped) < 54


def test_default_augment_per_data_set(embedded):
    assert default_augment(embedded) == Augment(pad=2, flip=False)


def test_state_dict_resumes_the_same_batches(embedded):
    def make(seed: int) -> TensorLoader:
        return TensorLoader(
            embedded.train_x[:200],
            embedded.train_y[:200],
            embedded.mean,
            embedded.std,
            64,
            augment=Augment(2, True),
            seed=seed,
        )

    a = make(0)
    batches(a, 2)
    state = a.state_dict()
    expected = batches(a, 6)  # crosses an epoch boundary (4 batches per epoch)
    b = make(99)
    b.load_state_dict(state)
    assert same(batches(b, 6), expected)
    assert b.epoch == a.epoch == 2


def write_folder(root: Path, split: str, sizes: dict[str, list[tuple[int, int]]]) -> None:
    for cls, shapes in sizes.items():
        (root / split / cls).mkdir(parents=True)
        for i, (h, w) in enumerate(shapes):
            img = torch.randint(0, 256, (h, w, 3), dtype=torch.uint8).numpy()
            Image.fromarray(img).save(root / split / cls / f"{i}.png")


@pytest.mark.parametrize("val_folder", [True, False], ids=["val folder", "held out"])
def test_image_folder(tmp_path, val_folder):
    write_folder(tmp_path, "train", {"cat": [(12, 10)] * 3, "dog": [(12, 10), (20, 16)]})
    write_folder(tmp_path, "test", {"cat": [(12, 10)], "dog": [(12, 10)] * 2})
    if val_folder:
        write_folder(tmp_path, "val", {"cat": [(12, 10)], "dog": [(12, 10)]})
    (tmp_path / "train" / "cat" / "notes.txt").write_text("not an image")
    splits = load_dataset(tmp_path)
    n_train = 5 if val_folder else 4  # else 10% of 5, at least one, is held out as val
    assert splits.train_x.shape == (n_train, 3, 12, 10) and splits.train_x.dtype == torch.uint8
    assert splits.test_x.shape == (3, 3, 12, 10)
    assert len(splits.val_y) == 7 - n_train - (0 if val_folder else 2)
    assert splits.test_y.tolist() == [0, 1, 1]
    held = sorted(splits.train_y.tolist() + ([] if val_folder else splits.val_y.tolist()))
    assert held == [0, 0, 0, 1, 1]
    assert splits.num_classes == 2 and splits.name == tmp_path.name
    assert len(splits.mean) == len(splits.std) == 3
    assert load_dataset(str(tmp_path)).train_x.shape == splits.train_x.shape


def test_a_training_split_too_small_for_the_val_hold_out_is_refused_with_its_sizes(tmp_path):
    write_folder(tmp_path, "train", {"cat": [(4, 4)], "dog": []})
    write_folder(tmp_path, "test", {"cat": [(4, 4)], "dog": [(4, 4)]})
    with pytest.raises(DatasetError, match="has 1 training images: too few to hold out 1"):
        load_dataset(tmp_path)


def test_missing_or_malformed_folder(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "absent")
    write_folder(tmp_path, "train", {"a": [(4, 4)]})
    with pytest.raises(DatasetError, match=r"test/.*expected"):
        load_dataset(tmp_path)
    (tmp_path / "test" / "a").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no images"):
        load_dataset(tmp_path)
    write_folder(tmp_path, "test", {"zebra": [(4, 4)]})
    with pytest.raises(DatasetError, match="zebra"):
        load_dataset(tmp_path)


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(DatasetError) as info:
        load_dataset("mnsit")
    assert all(name in str(info.value) for name in DATASET_NAMES)
    assert "directory" in str(info.value)


def test_offline_torchvision_set_names_folder_and_fix(tmp_path):
    root = tmp_path / "data"
    with pytest.raises(DatasetError) as info:
        load_dataset("cifar10", root=root, download=False)
    assert "cifar10" in str(info.value) and str(root) in str(info.value)
    assert "--data-root" in str(info.value)
    assert not root.exists()


@pytest.mark.slow
def test_real_cifar10_jpeg_folder(shared_data, tmp_path):
    archive = shared_data / "cifar10-jpeg.tar.gz"
    if not archive.is_file():
        pytest.skip(f"{archive} not found")
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path, filter="data")
    splits = load_dataset(tmp_path / "cifar10-jpeg")
    assert splits.train_x.shape == (45000, 3, 32, 32) and len(splits.val_y) == 5000
    assert splits.test_x.shape == (10000, 3, 32, 32)
    assert torch.bincount(torch.cat([splits.train_y, splits.val_y])).tolist() == [5000] * 10
    assert torch.bincount(splits.test_y).tolist() == [1000] * 10
    assert splits.num_classes == 10
    assert all(0.4 < m < 0.55 for m in splits.mean)
    assert default_augment(splits) == Augment(pad=4, flip=True)
