"""Student models: ``create_model(name, num_classes, input_shape, **kwargs)`` over a registry.

- ``mlp``: flatten + hidden layers; any input.
- ``cnn1d``: a small 1-D CNN for mnist1d; (C, L) inputs keep their channels, others are flattened to one.
- ``resnet18`` / ``resnet50``: torchvision ResNets; ``cifar_stem=True`` swaps the 7x7/stride-2 stem and max-pool for
  a 3x3/stride-1 conv, the usual choice for 32x32 inputs.
- ``airbench``: airbench94's whitened conv net (``bench.airbench``), ``width`` scales its channels; its whitening
  layer is set from training images by ``init_from_data`` before the first step.
- ``vit``: timm's VisionTransformer with configurable image and patch size (runs on 8x8 digits and 32x32 CIFAR);
  ``pretrained=True`` loads timm's hub weights (online users), ``checkpoint=<path>`` a local state dict.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from bench.airbench import AirbenchNet
from bench.registry import Registry

MODELS = Registry("model")
log = logging.getLogger(__name__)

# Models whose training steps measured faster in channels_last on CPU (train.channels_last=auto turns it on for
# them there, and probe ensembles of them train one member at a time in it; on CUDA auto turns it on for every image
# model). airbench: 1.33x at width 1.0 (batch 256) and 1.68x at width 0.25 (batch 1024),
# python scripts/bench_channels_last.py, results/throughput/channels_last.md.
CPU_CHANNELS_LAST: tuple[type, ...] = (AirbenchNet,)


def auto_channels_last(model: nn.Module, device_type: str, input_shape: Sequence[int]) -> bool:
    """What channels_last=auto means: on for image models on CUDA, and on CPU for ``CPU_CHANNELS_LAST`` models."""
    if len(input_shape) != 3:
        return False
    return device_type == "cuda" or (device_type == "cpu" and isinstance(model, CPU_CHANNELS_LAST))


def create_model(
    name: str, num_classes: int, input_shape: Sequence[int], checkpoint: Optional[str] = None, **kwargs: Any
) -> nn.Module:
    """Build model ``name`` for inputs of ``input_shape`` (without batch dim); optionally load a local checkpoint."""
    model = MODELS.get(name)(num_classes=num_classes, input_shape=tuple(input_shape), **kwargs)
    if checkpoint:
        load_checkpoint(model, checkpoint)
    return model


def load_checkpoint(model: nn.Module, path: str) -> None:
    """Load a local state dict (or a Lightning/timm checkpoint holding one) into ``model``.

    Keys whose shapes differ (a classifier head for another number of classes) are skipped and reported, so a
    backbone pretrained on ImageNet can be fine-tuned on CIFAR-10.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"model.checkpoint={path} does not exist")
    state = torch.load(p, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "module"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    state = {k.removeprefix("model.").removeprefix("module."): v for k, v in state.items()}
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    skipped = sorted(set(state) - set(usable))
    missing = sorted(set(own) - set(usable))
    model.load_state_dict(usable, strict=False)
    if not usable:
        raise ValueError(f"model.checkpoint={path} shares no parameter names/shapes with the model")
    log.info(
        "loaded %d tensors from %s; skipped %d (shape/name mismatch), left %d at init",
        len(usable),
        path,
        len(skipped),
        len(missing),
    )


DATA_INIT_IMAGES = 5000  # airbench94 whitens with the patches of 5,000 training images


def needs_data_init(model: nn.Module) -> bool:
    """Whether ``model`` sets part of itself from training inputs before training (``init_from_data``)."""
    return callable(getattr(model, "init_from_data", None))


def data_init_positions(n: int, seed: int, limit: int = DATA_INIT_IMAGES) -> np.ndarray:
    """Which of ``n`` training examples a data-dependent init reads: all when ``n`` <= ``limit``, else ``limit`` of
    them drawn without replacement by a generator of ``seed`` alone (sorted)."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng([int(seed), 0xA1B]).choice(n, size=limit, replace=False))


def init_from_data(model: nn.Module, inputs: torch.Tensor) -> bool:
    """Call ``model.init_from_data(inputs)`` (normalised training inputs, no augmentation) when the model has one;
    whether it did."""
    if not needs_data_init(model):
        return False
    model.init_from_data(inputs)
    return True


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


@MODELS.register("mlp")
def mlp(
    num_classes: int, input_shape: tuple, hidden: Sequence[int] = (256, 256), dropout: float = 0.0, **_: Any
) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    width = _numel(input_shape)
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


class CNN1d(nn.Module):
    """Three stride-2 1-D conv layers + a linear head (in the spirit of mnist1d's ConvBase)."""

    def __init__(
        self,
        num_classes: int,
        input_shape: tuple,
        channels: int = 32,
        kernel_size: int = 5,
        n_layers: int = 3,
        **_: Any,
    ) -> None:
        super().__init__()
        in_ch = input_shape[0] if len(input_shape) == 2 else 1
        length = input_shape[-1] if len(input_shape) == 2 else _numel(input_shape)
        self.reshape_to = (in_ch, length)
        convs: list[nn.Module] = []
        for i in range(n_layers):
            convs += [
                nn.Conv1d(in_ch if i == 0 else channels, channels, kernel_size, stride=2, padding=kernel_size // 2),
                nn.BatchNorm1d(channels),
                nn.ReLU(inplace=True),
            ]
            length = (length + 2 * (kernel_size // 2) - kernel_size) // 2 + 1
        self.features = nn.Sequential(*convs)
        self.head = nn.Linear(channels * length, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.reshape_to)
        return self.head(self.features(x).flatten(1))


@MODELS.register("cnn1d")
def cnn1d(num_classes: int, input_shape: tuple, **kwargs: Any) -> nn.Module:
    return CNN1d(num_classes, input_shape, **kwargs)


def _resnet(
    arch: str, num_classes: int, input_shape: tuple, cifar_stem: bool, width: int = 64, pretrained: bool = False
) -> nn.Module:
    import torchvision

    weights = "DEFAULT" if pretrained else None
    model = getattr(torchvision.models, arch)(weights=weights)
    in_ch = input_shape[0]
    if cifar_stem:
        model.conv1 = nn.Conv2d(in_ch, model.conv1.out_channels, 3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    elif in_ch != 3:
        model.conv1 = nn.Conv2d(in_ch, model.conv1.out_channels, 7, stride=2, padding=3, bias=False)
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


@MODELS.register("resnet18")
def resnet18(
    num_classes: int, input_shape: tuple, cifar_stem: Optional[bool] = None, pretrained: bool = False, **_: Any
) -> nn.Module:
    stem = cifar_stem if cifar_stem is not None else input_shape[-1] <= 64
    return _resnet("resnet18", num_classes, input_shape, stem, pretrained=pretrained)


@MODELS.register("resnet50")
def resnet50(
    num_classes: int, input_shape: tuple, cifar_stem: Optional[bool] = None, pretrained: bool = False, **_: Any
) -> nn.Module:
    stem = cifar_stem if cifar_stem is not None else input_shape[-1] <= 64
    return _resnet("resnet50", num_classes, input_shape, stem, pretrained=pretrained)


@MODELS.register("airbench")
def airbench(
    num_classes: int, input_shape: tuple, width: float = 1.0, whiten_bias_epochs: float = 3, **_: Any
) -> nn.Module:
    """airbench94's network (``bench.airbench.AirbenchNet``); ``width`` 1.0 = its 64/256/256 channels."""
    if len(input_shape) != 3 or min(input_shape[1:]) < 8:
        raise ValueError(
            f"model=airbench needs images (C, H, W) of at least 8x8 pixels; the dataset gives {input_shape}"
        )
    return AirbenchNet(num_classes, input_shape[0], width=width, whiten_bias_epochs=whiten_bias_epochs)


@MODELS.register("vit")
def vit(
    num_classes: int,
    input_shape: tuple,
    patch_size: int = 4,
    embed_dim: int = 192,
    depth: int = 6,
    num_heads: int = 3,
    mlp_ratio: float = 4.0,
    timm_name: Optional[str] = None,
    pretrained: bool = False,
    drop_path_rate: float = 0.0,
    **_: Any,
) -> nn.Module:
    """A timm ViT. With ``timm_name`` (e.g. ``vit_small_patch16_224``) the named architecture is built, resized to
    the input's image size, with hub weights when ``pretrained``; otherwise a ViT of the given size."""
    import timm
    from timm.models.vision_transformer import VisionTransformer

    if len(input_shape) != 3:
        raise ValueError(f"model=vit needs image inputs (C, H, W); the dataset gives shape {input_shape}")
    in_ch, h, w = input_shape
    if h % patch_size or w % patch_size:
        raise ValueError(f"model.patch_size={patch_size} does not divide the image size {h}x{w}")
    if timm_name:
        return timm.create_model(
            timm_name,
            pretrained=pretrained,
            num_classes=num_classes,
            img_size=(h, w),
            in_chans=in_ch,
            drop_path_rate=drop_path_rate,
        )
    return VisionTransformer(
        img_size=(h, w),
        patch_size=patch_size,
        in_chans=in_ch,
        num_classes=num_classes,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        mlp_ratio=mlp_ratio,
        drop_path_rate=drop_path_rate,
    )


@MODELS.register("perceptron")
def perceptron(num_classes: int, input_shape: tuple, **_: Any) -> nn.Module:
    """The teacher-student perceptron's student J (no bias). bench.run trains it as the max-margin solution
    (bench/train/perceptron.py), not by SGD; this module is its linear form, sign(J . x)."""
    return nn.Linear(_numel(input_shape), 1, bias=False)
