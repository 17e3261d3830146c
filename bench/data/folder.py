"""ImageNet-style folders (``<root>/train/<class>/*.JPEG``, ``<root>/val/<class>/*``) read by DataLoader workers.

The paper's recipe: RandomResizedCrop 224 + horizontal flip + colour jitter 0.4 for training; Resize 256 +
CenterCrop 224 for testing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from bench.data import DATASETS, DatasetError, Splits

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _verify_images(ds, split: str) -> None:
    from PIL import Image
    from tqdm.auto import tqdm

    for path, _ in tqdm(ds.samples, desc=f"verifying {split} images", leave=False):
        try:
            with Image.open(path) as im:
                im.verify()
        except Exception as e:
            raise DatasetError(f"{path} is corrupt or truncated ({type(e).__name__}: {e})") from e


@DATASETS.register("imagenet")
def imagenet(
    root: Optional[str] = None,
    image_size: int = 224,
    test_resize: int = 256,
    train_dir: str = "train",
    val_dir: str = "val",
    color_jitter: float = 0.4,
    verify_images: bool = False,
    **_: object,
) -> Splits:
    """An ImageFolder dataset; ``verify_images=true`` opens every file before training to catch corrupt ones."""
    from torchvision import datasets
    from torchvision import transforms as T

    if root is None:
        raise DatasetError("dataset.root is not set: imagenet needs a directory with train/ and val/ class folders")
    for sub in (train_dir, val_dir):
        if not (Path(root) / sub).is_dir():
            raise DatasetError(
                f"imagenet folder {Path(root) / sub} not found under dataset.root={root}: expected "
                f"{train_dir}/<class>/<image> and {val_dir}/<class>/<image> (ImageNet cannot be downloaded automatically)"
            )
    norm = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    jitter = [T.ColorJitter(color_jitter, color_jitter, color_jitter)] if color_jitter > 0 else []
    train_tf = T.Compose([T.RandomResizedCrop(image_size), T.RandomHorizontalFlip(), *jitter, T.ToTensor(), norm])
    test_tf = T.Compose([T.Resize(test_resize), T.CenterCrop(image_size), T.ToTensor(), norm])
    try:
        train_set = datasets.ImageFolder(str(Path(root) / train_dir), transform=train_tf)
        test_set = datasets.ImageFolder(str(Path(root) / val_dir), transform=test_tf)
    except (FileNotFoundError, RuntimeError) as e:
        raise DatasetError(f"cannot read image folders under dataset.root={root}: {e}") from e
    if train_set.classes != test_set.classes:
        raise DatasetError(
            f"{train_dir}/ and {val_dir}/ under {root} have different class folders "
            f"({len(train_set.classes)} vs {len(test_set.classes)})"
        )
    if verify_images:
        _verify_images(train_set, train_dir)
        _verify_images(test_set, val_dir)
    return Splits(
        name="imagenet",
        num_classes=len(train_set.classes),
        input_shape=(3, image_size, image_size),
        train_y=torch.tensor(train_set.targets, dtype=torch.int64),
        test_y=torch.tensor(test_set.targets, dtype=torch.int64),
        train_set=train_set,
        test_set=test_set,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        meta={"classes": train_set.classes, "root": str(root)},
    )
