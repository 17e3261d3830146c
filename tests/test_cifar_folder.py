"""CIFAR from class-folder trees: exact read-back, bad input, the decoded-array cache, and the data source in the run's
identity (run id, score key, test_key)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, compose, write_cifar10
from PIL import Image

from bench.data import DatasetError, build_dataset
from bench.data import cifar_folder as cf
from bench.data import source as src
from bench.data.source import with_data_source
from bench.run import run_pipeline

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def make_images(n: int, seed: int, smooth: bool = False) -> np.ndarray:
    """n RGB images (n, 32, 32, 3) uint8: uniform noise, or smooth colour gradients (JPEG-friendly)."""
    rng = np.random.default_rng(seed)
    if not smooth:
        return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    base = rng.uniform(40, 215, (n, 1, 1, 3)) + rng.uniform(-40, 40, (n, 1, 1, 3)) * (xx + yy)[None, :, :, None] / 2
    return np.clip(base, 0, 255).astype(np.uint8)


def write_tree(root: Path, per_class: dict[str, int], suffix: str = "png", seed: int = 0, smooth: bool = False):
    """A class-folder tree under ``root``; returns {split: (images (n, 3, 32, 32) in the tree's order, labels)}.

    Classes are written in reverse order and file names are random, so the expected order (sorted class names, then
    sorted file names) differs from the order of creation."""
    rng = np.random.default_rng(seed)
    expected = {}
    for split, n in per_class.items():
        xs, ys = [], []
        for label, cls in sorted(enumerate(CLASSES), key=lambda t: t[1], reverse=True):
            imgs = make_images(n, seed=int(rng.integers(1 << 30)), smooth=smooth)
            names = [f"{int(rng.integers(1 << 40)):012d}.{suffix}" for _ in range(n)]
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for name, img in zip(names, imgs):
                Image.fromarray(img).save(root / split / cls / name, quality=92)
            order = np.argsort(names)
            xs.append((label, imgs[order]))
            ys.append((label, np.full(n, label)))
        xs.sort(key=lambda t: t[0])
        ys.sort(key=lambda t: t[0])
        x = np.concatenate([a for _, a in xs]).transpose(0, 3, 1, 2)
        expected[split] = (x, np.concatenate([a for _, a in ys]))
    return expected


@pytest.fixture
def tree(tmp_path) -> tuple[Path, dict]:
    root = tmp_path / "tree"
    return root, write_tree(root, {"train": 3, "test": 2})


def test_png_tree_reads_back_exactly_in_the_trees_order(tree, tmp_path):
    root, expected = tree
    s = build_dataset("cifar10", root=str(root), cache_dir=str(tmp_path / "cache"))
    assert s.train_x.dtype == torch.uint8 and s.train_x.shape == (30, 3, 32, 32)
    np.testing.assert_array_equal(s.train_x.numpy(), expected["train"][0])
    np.testing.assert_array_equal(s.train_y.numpy(), expected["train"][1])
    np.testing.assert_array_equal(s.test_x.numpy(), expected["test"][0])
    np.testing.assert_array_equal(s.test_y.numpy(), expected["test"][1])
    assert s.meta["classes"] == CLASSES and s.num_classes == 10 and s.meta["source"].startswith("folder:")


def test_jpeg_tree_reads_back_within_jpeg_error(tmp_path):
    root = tmp_path / "jpeg"
    expected = write_tree(root, {"train": 2, "test": 1}, suffix="jpg", smooth=True)
    s = build_dataset("cifar10", root=str(root), cache_dir=str(tmp_path / "cache"))
    err = np.abs(s.train_x.numpy().astype(int) - expected["train"][0].astype(int))
    assert err.mean() < 3 and err.max() < 40, (err.mean(), err.max())
    np.testing.assert_array_equal(s.train_y.numpy(), expected["train"][1])


def test_cifar100_reads_a_tree_of_its_100_classes(tmp_path):
    root = tmp_path / "c100"
    names = [f"class{i:03d}" for i in range(100)]
    for split in ("train", "test"):
        for i, name in enumerate(names):
            (root / split / name).mkdir(parents=True)
            Image.fromarray(make_images(1, seed=i)[0]).save(root / split / name / "a.png")
    s = build_dataset("cifar100", root=str(root), cache_dir=str(tmp_path / "cache"))
    assert s.num_classes == 100 and s.train_y.tolist() == list(range(100)) and s.test_x.shape == (100, 3, 32, 32)
    with pytest.raises(DatasetError, match=r"has 100 class folders.*10 classes"):
        build_dataset("cifar10", root=str(root), cache_dir=str(tmp_path / "cache"))


def _first(root: Path, split: str = "train", cls: str = "cat") -> Path:
    return sorted((root / split / cls).iterdir())[0]


def _no_test(root):
    shutil.rmtree(root / "test")
    return "test"


def _no_train(root):
    shutil.rmtree(root / "train")
    return "train"


def _different_classes(root):
    (root / "test" / "cat").rename(root / "test" / "kitten")
    return r"only in train/: \['cat'\]; only in test/: \['kitten'\]"


def _unreadable(root):
    path = _first(root)
    path.write_bytes(b"\x89PNG but not really")
    return re.escape(str(path)) + ".*not a readable image"


def _truncated(root):
    path = _first(root)
    path.write_bytes(path.read_bytes()[:60])
    return re.escape(str(path)) + ".*not a readable image"


def _wrong_size(root):
    path = _first(root)
    Image.fromarray(make_images(1, 0)[0][:, :31]).save(path)
    return re.escape(str(path)) + ".*31x32 RGB image.*must be 32x32 RGB"


def _grey(root):
    path = _first(root, "test", "dog")
    Image.fromarray(make_images(1, 0)[0][..., 0]).save(path)
    return re.escape(str(path)) + ".*32x32 L image.*must be 32x32 RGB"


def _empty_class(root):
    shutil.rmtree(root / "train" / "bird")
    (root / "train" / "bird").mkdir()
    return re.escape(str(root / "train" / "bird")) + " is empty"


def _not_an_image(root):
    (root / "train" / "cat" / "notes.txt").write_text("hello")
    return re.escape(str(root / "train" / "cat" / "notes.txt")) + ".*allowed suffixes are .png, .jpg, .jpeg"


def _nine_classes(root):
    for split in ("train", "test"):
        shutil.rmtree(root / split / "truck")
    return "has 9 class folders.*10 classes"


BAD_TREES = [
    _no_test,
    _no_train,
    _different_classes,
    _unreadable,
    _truncated,
    _wrong_size,
    _grey,
    _empty_class,
    _not_an_image,
    _nine_classes,
]


@pytest.mark.parametrize("spoil", BAD_TREES, ids=lambda f: f.__name__.strip("_"))
def test_bad_tree_gets_one_clear_error_naming_the_path(tree, tmp_path, spoil):
    root, _ = tree
    pattern = spoil(root)
    if spoil in (_no_test, _no_train):
        pattern = re.escape(str(root / pattern)) + " is missing.*train/<class>/<image> and test/<class>/<image>"
    with pytest.raises(DatasetError, match=pattern):
        build_dataset("cifar10", root=str(root), cache_dir=str(tmp_path / "cache"))


def test_hidden_files_are_ignored(tree, tmp_path):
    root, expected = tree
    (root / "train" / "cat" / ".DS_Store").write_bytes(b"\0")
    (root / "train" / ".hidden").mkdir()
    s = build_dataset("cifar10", root=str(root), cache_dir=str(tmp_path / "cache"))
    np.testing.assert_array_equal(s.train_x.numpy(), expected["train"][0])


def test_a_bad_tree_fails_the_run_before_training(_isolated_env, tree):
    root, _ = tree
    _empty_class(root)
    with pytest.raises(DatasetError, match="is empty"):
        run_pipeline(compose(["dataset=cifar10", f"dataset.root={root}", "model=mlp", "logger=none"]))
    assert not (_isolated_env / "records").exists()


@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_parallel_decode_equals_serial_and_reports_bad_files(tree, kind):
    root, expected = tree
    files = cf.scan_tree(root, 10).files["train"]
    out = cf.decode_parallel(files, workers=2, kind=kind, chunk=4)
    np.testing.assert_array_equal(out, expected["train"][0])
    Path(files[17]).write_bytes(b"garbage")
    with pytest.raises(DatasetError, match=re.escape(files[17])):
        cf.decode_parallel(files, workers=2, kind=kind, chunk=4)


def test_second_load_uses_the_cache_and_a_changed_file_rebuilds_it(tree, tmp_path, monkeypatch):
    root, expected = tree
    cache = tmp_path / "cache"
    first = build_dataset("cifar10", root=str(root), cache_dir=str(cache))
    assert len(list((cache / "cifar_folder").iterdir())) == 1

    def no_decoding(*a, **k):
        raise AssertionError("decoded although cached")

    def no_hashing(*a, **k):
        raise AssertionError("hashed the files although their listing is unchanged")

    monkeypatch.setattr(cf, "decode_parallel", no_decoding)
    monkeypatch.setattr(src, "content_hash", no_hashing)
    second = build_dataset("cifar10", root=str(root), cache_dir=str(cache))
    np.testing.assert_array_equal(second.train_x.numpy(), expected["train"][0])
    assert second.meta["source"] == first.meta["source"]
    monkeypatch.undo()

    path = _first(root, "train", "airplane")  # the first train example
    new = make_images(1, seed=99)[0]
    Image.fromarray(new).save(path)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a later mtime even on coarse clocks
    third = build_dataset("cifar10", root=str(root), cache_dir=str(cache))
    np.testing.assert_array_equal(third.train_x[0].numpy(), new.transpose(2, 0, 1))
    np.testing.assert_array_equal(third.train_x[1:].numpy(), expected["train"][0][1:])
    assert third.meta["source"] != first.meta["source"]


def test_a_corrupt_cache_file_is_decoded_again(tree, tmp_path):
    root, expected = tree
    cache = tmp_path / "cache"
    build_dataset("cifar10", root=str(root), cache_dir=str(cache))
    (cached,) = (cache / "cifar_folder").iterdir()
    cached.write_bytes(cached.read_bytes()[:1000])
    s = build_dataset("cifar10", root=str(root), cache_dir=str(cache))
    np.testing.assert_array_equal(s.test_x.numpy(), expected["test"][0])
    assert cached.stat().st_size > 1000


DRY = ["dataset=cifar10", "model=mlp", "model.hidden=[8]", "metric=random", "prune.keep=0.5", "logger=none"]


def _dry_record(root: Path) -> dict:
    return run_pipeline(compose([*DRY, f"dataset.root={root}", "dry_run=true"]))


def test_two_trees_give_two_run_ids_score_keys_and_test_keys(tree, tmp_path):
    root_a, _ = tree
    root_b = tmp_path / "other"
    write_tree(root_b, {"train": 3, "test": 2}, seed=1)
    a, b = _dry_record(root_a), _dry_record(root_b)
    assert a["run_id"] != b["run_id"] and a["score_key"] != b["score_key"] and a["test_key"] != b["test_key"]
    assert a["score_key"] is not None and a["test_key"].startswith("cifar10:n20:source=folder:")
    assert a["config"]["dataset"]["source"] == a["test_key"].split("source=")[1]
    copy = tmp_path / "copy"  # the same files elsewhere: the same identity (dataset.root is not part of it)
    shutil.copytree(root_a, copy)
    c = _dry_record(copy)
    assert (c["run_id"], c["score_key"], c["test_key"]) == (a["run_id"], a["score_key"], a["test_key"])


def test_torchvision_files_have_their_own_source(tmp_path):
    write_cifar10(tmp_path / "tv")
    cfg = with_data_source({"dataset": {"name": "cifar10", "root": str(tmp_path / "tv"), "cache_dir": str(tmp_path)}})
    assert re.fullmatch(r"torchvision:[0-9a-f]{16}", cfg["dataset"]["source"])
    write_cifar10(tmp_path / "tv2", seed=1)
    other = with_data_source(
        {"dataset": {"name": "cifar10", "root": str(tmp_path / "tv2"), "cache_dir": str(tmp_path)}}
    )
    assert other["dataset"]["source"] != cfg["dataset"]["source"]
    plain = {"dataset": {"name": "mnist1d", "n_train": 100}}
    assert with_data_source(plain) is plain  # generated datasets keep their identities


def test_files_changed_after_the_run_id_are_refused(tree, tmp_path):
    root, _ = tree
    ds = with_data_source({"dataset": {"name": "cifar10", "root": str(root), "cache_dir": str(tmp_path)}})["dataset"]
    Image.fromarray(make_images(1, seed=5)[0]).save(root / "test" / "ship" / "zzz.png")
    with pytest.raises(DatasetError, match=r"changed after this run's id was computed"):
        build_dataset("cifar10", root=str(root), cache_dir=str(tmp_path), source=ds["source"])


def shared_data_dir() -> Path:
    """``$BENCH_SHARED_DATA``, else ``../shared/data`` next to the repository (where CI clones it)."""
    return Path(os.environ.get("BENCH_SHARED_DATA") or REPO.parent / "shared" / "data")


SHARED_SHA256 = "ee76cb8cad525e8c5a5117a66ca036869c0b804e0eedb496ff61535c824ad3bd"


def test_the_shared_jpeg_copy_reads_through_the_loader(tmp_path):
    """A small part of the shared CIFAR-10 (JPEG copy): its checksum, its test/ split's classes and counts (the
    archive lists test/ first), and real files of it read through the loader (unpacking it all takes ~6-9 s)."""
    tarball = shared_data_dir() / "cifar10-jpeg.tar.xz"
    if not tarball.is_file():
        pytest.skip(f"{tarball} is absent (set BENCH_SHARED_DATA or clone the repository next to shared/)")
    assert hashlib.sha256(tarball.read_bytes()).hexdigest() == SHARED_SHA256
    counts: dict[str, int] = {}
    with tarfile.open(tarball, "r|xz") as tf:
        for member in tf:
            parts = member.name.split("/")
            if parts[0] == "train":
                break
            if len(parts) != 3 or not member.isfile():
                continue
            counts[parts[1]] = counts.get(parts[1], 0) + 1
            if counts[parts[1]] <= 4:  # the first 2 of each class as test/, the next 2 as train/
                dest = tmp_path / "tree" / ("test" if counts[parts[1]] <= 2 else "train") / parts[1] / parts[2]
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(tf.extractfile(member).read())
    assert counts == {c: 1000 for c in CLASSES}
    s = build_dataset("cifar10", root=str(tmp_path / "tree"), cache_dir=str(tmp_path / "cache"))
    assert s.meta["classes"] == CLASSES and s.train_x.shape == (20, 3, 32, 32) and s.test_y.tolist()[:3] == [0, 0, 1]
    assert 20 < float(s.train_x.float().mean()) < 235 and float(s.train_x.float().std()) > 10


def test_cache_file_holds_arrays_in_npy_records(tree, tmp_path):
    root, expected = tree
    build_dataset("cifar10", root=str(root), cache_dir=str(tmp_path))
    (path,) = (tmp_path / "cifar_folder").iterdir()
    with open(path, "rb") as f:
        first = np.lib.format.read_array(f)
    np.testing.assert_array_equal(first, expected["train"][0])
