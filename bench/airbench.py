"""The airbench94 student (Jordan 2024, "94% on CIFAR-10 in 3.29 seconds on a single GPU", arXiv 2404.00498),
written from the paper and its public code (KellerJordan/cifar10-airbench, legacy/airbench94.py), with a width
multiplier.

Network, for 32x32 RGB inputs (``width`` = 1.0 is the original):

- a 2x2 convolution without padding into 24 channels (2 x 3 x 2 x 2), whose weights are the eigenvectors of the
  2x2 patch second-moment matrix of (up to 5,000) training images, each scaled by 1/sqrt(eigenvalue + 5e-4), and
  their negatives; the weights are frozen, the bias trains during the first ``whiten_bias_epochs`` epochs only
  (``frozen_parameters``); then GELU;
- three groups conv3x3 -> max-pool 2 -> BatchNorm -> GELU -> conv3x3 -> BatchNorm -> GELU with 64, 256, 256 channels
  (x ``width``); the convolutions have no bias and start with the identity (Dirac) on their first input channels;
  BatchNorm has a frozen scale of 1, a trained bias, eps 1e-12 and momentum 0.6 in airbench's convention (torch's
  ``momentum`` = 1 - 0.6);
- a global max-pool (3x3 after the three groups), a linear head without bias, logits scaled by 1/9.

The whitening weights are set by ``init_from_data(x)`` before training (``bench.models.init_from_data`` is the hook
the training loop and the probe loop call with the kept/pool images); until then they are zero.
"""

from __future__ import annotations

import torch
from torch import nn

WHITEN_KERNEL = 2
WHITEN_EPS = 5e-4
WIDTHS = (64, 256, 256)
BN_MOMENTUM = 0.6  # airbench's convention: running = 0.6 * running + 0.4 * batch
BN_EPS = 1e-12
SCALING = 1 / 9


class FrozenScaleBatchNorm(nn.BatchNorm2d):
    """BatchNorm with its scale frozen at 1 and a trained bias (airbench's ``BatchNorm``)."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, eps=BN_EPS, momentum=1 - BN_MOMENTUM)
        self.weight.requires_grad_(False)


def _dirac_conv(c_in: int, c_out: int) -> nn.Conv2d:
    """A 3x3 'same' convolution without bias: torch's default init, then the identity on its first channels."""
    conv = nn.Conv2d(c_in, c_out, 3, padding="same", bias=False)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[: min(c_in, c_out)])
    return conv


class ConvGroup(nn.Module):
    """conv -> max-pool 2 -> BatchNorm -> GELU -> conv -> BatchNorm -> GELU."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = _dirac_conv(c_in, c_out)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = FrozenScaleBatchNorm(c_out)
        self.conv2 = _dirac_conv(c_out, c_out)
        self.norm2 = FrozenScaleBatchNorm(c_out)
        self.activ = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        return self.activ(self.norm2(self.conv2(x)))


def patches(x: torch.Tensor, size: int = WHITEN_KERNEL) -> torch.Tensor:
    """Every ``size`` x ``size`` patch (stride 1) of images ``x`` (N, C, H, W), flattened: (N * patches, C*size*size)
    in the order of a conv kernel's (C, kh, kw) weights."""
    c = x.shape[1]
    p = x.unfold(2, size, 1).unfold(3, size, 1)  # (N, C, H', W', size, size)
    return p.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * size * size).double()


def whitening_weights(x: torch.Tensor, size: int = WHITEN_KERNEL, eps: float = WHITEN_EPS) -> torch.Tensor:
    """The (C*size*size, C, size, size) kernel whose outputs on ``x``'s patches have an (uncentred) second-moment
    matrix close to the identity: the eigenvectors of the patches' second-moment matrix (largest eigenvalue first),
    each divided by sqrt(eigenvalue + eps)."""
    c = x.shape[1]
    moment, count = torch.zeros(c * size * size, c * size * size, dtype=torch.float64, device=x.device), 0
    for chunk in x.split(500):  # ~50 MB of patches at a time
        flat = patches(chunk, size)
        moment += flat.T @ flat
        count += flat.shape[0]
    moment /= max(count, 1)
    eigenvalues, eigenvectors = torch.linalg.eigh(moment)  # ascending
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    kernel = (eigenvectors / torch.sqrt(eigenvalues.clamp_min(0) + eps)).T
    return kernel.reshape(c * size * size, c, size, size)


class AirbenchNet(nn.Module):
    """airbench94's network with channel widths scaled by ``width``; see the module docstring."""

    def __init__(
        self, num_classes: int = 10, in_channels: int = 3, width: float = 1.0, whiten_bias_epochs: float = 3
    ) -> None:
        super().__init__()
        whiten_width = 2 * in_channels * WHITEN_KERNEL**2
        widths = [max(1, round(w * width)) for w in WIDTHS]
        self.whiten = nn.Conv2d(in_channels, whiten_width, WHITEN_KERNEL, padding=0, bias=True)
        with torch.no_grad():
            self.whiten.weight.zero_()
            self.whiten.bias.zero_()
        self.whiten.weight.requires_grad_(False)
        self.whiten_bias_epochs = float(whiten_bias_epochs)
        self.activ = nn.GELU()
        self.group1 = ConvGroup(whiten_width, widths[0])
        self.group2 = ConvGroup(widths[0], widths[1])
        self.group3 = ConvGroup(widths[1], widths[2])
        self.pool = nn.AdaptiveMaxPool2d(1)  # airbench: MaxPool2d(3) on the 3x3 map left for 32x32 inputs
        self.head = nn.Linear(widths[2], num_classes, bias=False)
        self.scaling = SCALING

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor) -> None:
        """Set the frozen whitening kernel from normalised training images ``x`` (N, C, H, W): the whitening
        kernel and its negative (``whitening_weights``)."""
        kernel = whitening_weights(x.to(self.whiten.weight.device))
        self.whiten.weight.copy_(torch.cat([kernel, -kernel]).to(self.whiten.weight.dtype))

    def frozen_parameters(self, epoch: float) -> list[nn.Parameter]:
        """The parameters that must not move at ``epoch`` (epochs done so far): the whitening bias from epoch
        ``whiten_bias_epochs`` on. The training loop drops their gradients after the backward pass, so the optimiser
        skips them (no step, no momentum, no weight decay), as airbench's ``requires_grad = False`` does; keeping
        ``requires_grad`` lets DDP's gradient buckets stay as they were built."""
        return [self.whiten.bias] if epoch >= self.whiten_bias_epochs else []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.activ(self.whiten(x))
        x = self.group3(self.group2(self.group1(x)))
        return self.head(self.pool(x).flatten(1)) * self.scaling
