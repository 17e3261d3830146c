"""Datasets through the real loaders, pools and label noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import write_cifar10, write_cifar100, write_image_folder, write_svhn

from bench.data import DatasetError, build_dataset, flip_labels, make_pool, make_pool_ids


def test_mnist1d_generated_cached_and_deterministic(tmp_path):
    a = build_dataset("mnist1d", n_train=300, n_test=100, cache_dir=str(tmp_path))
    assert a.train_x.shape == (300, 1, 40) and a.test_x.shape == (100, 1, 40)
    assert a.num_classes == 10 and set(a.train_y.tolist()) == set(range(10))
    assert len(list(tmp_path.glob("mnist1d_300_100_42.npz"))) == 1
    b = build_dataset("mnist1d", n_train=300, n_test=100, cache_dir=str(tmp_path))  # from the cache
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)


def test_digits_split():
    s = build_dataset("digits")
    assert s.train_x.shape == (1347, 1, 8, 8) and s.test_x.shape == (450, 1, 8, 8)
    assert float(s.train_x.max()) <= 1.0


def test_pool_is_stratified_exact_and_nested():
    labels = np.repeat(np.arange(4), [100, 200, 300, 400])
    ids = make_pool_ids(labels, 100, seed=3, num_classes=4)
    assert ids.size == 100 and np.unique(ids).size == 100
    assert np.bincount(labels[ids]).tolist() == [10, 20, 30, 40]
    bigger = make_pool_ids(labels, 500, seed=3, num_classes=4)
    assert set(ids) <= set(bigger)
    assert not np.array_equal(ids, make_pool_ids(labels, 100, seed=4, num_classes=4))
    assert np.array_equal(make_pool_ids(labels, None, 0, 4), np.arange(1000))


@pytest.mark.parametrize("size", [3, 1001])
def test_pool_size_out_of_range(size):
    labels = np.repeat(np.arange(4), 250)
    with pytest.raises(DatasetError, match=f"pool_size={size}"):
        make_pool_ids(labels, size, 0, 4)


def test_label_noise_flips_exact_fraction_to_other_classes():
    y = torch.arange(10).repeat(50)
    noisy, mask = flip_labels(y, 0.2, 10, seed=0)
    assert mask.sum() == 100
    assert torch.all(noisy[torch.from_numpy(mask)] != y[torch.from_numpy(mask)])
    assert torch.equal(noisy[torch.from_numpy(~mask)], y[torch.from_numpy(~mask)])


def test_make_pool_carries_noise(tmp_path):
    s = build_dataset("mnist1d", n_train=500, n_test=50, cache_dir=str(tmp_path))
    p = make_pool(s, 200, seed=1, label_noise=0.1)
    assert len(p) == 200 and p.noisy.sum() == 20
    assert int((p.y != p.clean_y).sum()) == 20


def test_cifar10_format_loads_through_real_loader(tmp_path):
    write_cifar10(tmp_path)
    s = build_dataset("cifar10", root=str(tmp_path))
    assert s.train_x.shape == (100, 3, 32, 32) and s.train_x.dtype == torch.uint8
    assert s.test_x.shape == (30, 3, 32, 32) and s.num_classes == 10 and s.augment == "crop_flip"


def test_cifar100_and_svhn_formats(tmp_path):
    write_cifar100(tmp_path)
    c = build_dataset("cifar100", root=str(tmp_path))
    assert c.train_x.shape == (200, 3, 32, 32) and c.num_classes == 100
    write_svhn(tmp_path / "svhn")
    s = build_dataset("svhn", root=str(tmp_path / "svhn"))
    assert s.train_x.shape == (60, 3, 32, 32) and int(s.train_y.max()) <= 9 and int(s.train_y.min()) >= 0


def test_missing_root_names_path_and_flag(tmp_path):
    with pytest.raises(DatasetError, match=r"(?s)dataset.root=.*nowhere.*download=true"):
        build_dataset("cifar10", root=str(tmp_path / "nowhere"), download=False)
    with pytest.raises(DatasetError, match="download"):
        build_dataset("svhn", root=str(tmp_path / "nowhere"), download=False)


def test_truncated_cifar_file_is_reported(tmp_path):
    base = write_cifar10(tmp_path)
    blob = (base / "data_batch_3").read_bytes()
    (base / "data_batch_3").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DatasetError, match="data_batch_3.*corrupt or truncated"):
        build_dataset("cifar10", root=str(tmp_path))


def test_corrupt_svhn_file_is_reported(tmp_path):
    write_svhn(tmp_path)
    (tmp_path / "test_32x32.mat").write_bytes(b"not a mat file at all")
    with pytest.raises(DatasetError, match="test_32x32.mat.*corrupt"):
        build_dataset("svhn", root=str(tmp_path))


def test_image_folder_loads_and_batches(tmp_path):
    from bench.train.data import folder_loader

    write_image_folder(tmp_path)
    s = build_dataset("imagenet", root=str(tmp_path), image_size=32, test_resize=36, verify_images=True)
    assert s.num_classes == 3 and s.n_train == 18 and len(s.test_set) == 9 and not s.in_memory
    pool = make_pool(s, 9, seed=0)
    loader = folder_loader(s.train_set, pool.ids, pool.y, batch_size=4, shuffle=True, num_workers=2)
    x, y, pos = next(iter(loader))
    assert x.shape == (4, 3, 32, 32) and y.dtype == torch.int64 and pos.max() < 9


def test_image_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match="train"):
        build_dataset("imagenet", root=str(tmp_path))
    write_image_folder(tmp_path)
    bad = tmp_path / "train" / "ant" / "ant_0.png"
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(DatasetError, match="ant_0.png.*corrupt or truncated"):
        build_dataset("imagenet", root=str(tmp_path), image_size=32, verify_images=True)


@pytest.mark.parametrize("workers", [0, 2])
def test_folder_batches_resume_mid_epoch_with_the_same_augmentations(tmp_path, workers):
    """A folder run resumed after 2 batches gets the examples *and* augmentation draws of an uninterrupted one."""
    from bench.train.data import folder_loader

    write_image_folder(tmp_path)
    s = build_dataset("imagenet", root=str(tmp_path), image_size=32, test_resize=36)
    pool = make_pool(s, 18, seed=0)

    def loader():
        return folder_loader(s.train_set, pool.ids, pool.y, batch_size=4, shuffle=True, num_workers=workers, seed=5)

    a = loader()
    it = iter(a)
    head = [next(it) for _ in range(2)]
    state = a.state_after(1)
    rest, next_epoch = list(it), list(a)
    b = loader()
    b.load_state_dict(state)
    resumed, resumed_next = list(b), list(b)
    for want, got in zip(rest + next_epoch, resumed + resumed_next, strict=True):
        assert torch.equal(want[2], got[2]) and torch.equal(want[0], got[0])
    epochs = [
        {int(p): x[j] for x, _, pos in batches for j, p in enumerate(pos)} for batches in (head + rest, next_epoch)
    ]
    assert sorted(epochs[0]) == sorted(epochs[1]) == list(range(18))
    assert sum(not torch.equal(epochs[0][p], epochs[1][p]) for p in range(18)) >= 15  # new draws each epoch
