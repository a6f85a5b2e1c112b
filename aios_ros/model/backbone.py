"""ResNet-50 v1.5 with frozen batch norm (torchvision topology, official parameter names).

Returns the ``layer2``/``layer3``/``layer4`` maps C3 (512 ch, stride 8), C4 (1024, 16),
C5 (2048, 32).
"""

from __future__ import annotations

import torch
from torch import nn


class FrozenBatchNorm2d(nn.Module):
    """Batch norm with fixed statistics: y = (x - mean) * w / sqrt(var + 1e-5) + b.

    Buffers ``weight, bias, running_mean, running_var`` (C,); no ``num_batches_tracked``.
    """

    weight: torch.Tensor
    bias: torch.Tensor
    running_mean: torch.Tensor
    running_var: torch.Tensor

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.register_buffer('weight', torch.ones(num_features))
        self.register_buffer('bias', torch.zeros(num_features))
        self.register_buffer('running_mean', torch.zeros(num_features))
        self.register_buffer('running_var', torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalises ``x`` in place: here it is always a fresh convolution output (whose
        backward does not need it), and skipping two full-size temporaries saves memory traffic."""
        scale = self.weight * (self.running_var + 1e-5).rsqrt()
        shift = self.bias - self.running_mean * scale
        # Same dtype as x (bf16 under autocast): mixed-dtype in-place ops take a slow path.
        scale, shift = scale.to(x.dtype), shift.to(x.dtype)
        return x.mul_(scale[None, :, None, None]).add_(shift[None, :, None, None])


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride here, v1.5) -> 1x1 (x4 channels), residual, ReLU."""

    def __init__(self, in_ch: int, width: int, stride: int) -> None:
        super().__init__()
        out_ch = width * 4
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = FrozenBatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = FrozenBatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = FrozenBatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), FrozenBatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out: torch.Tensor = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.relu(self.bn3(self.conv3(out)) + identity)
        return out


def _stage(in_ch: int, width: int, blocks: int, stride: int) -> nn.Sequential:
    layers = [Bottleneck(in_ch, width, stride)]
    layers += [Bottleneck(width * 4, width, 1) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNet50(nn.Module):
    """Stem + four stages; no average pool / fc (official ``IntermediateLayerGetter`` body)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = FrozenBatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = _stage(64, 64, 3, 1)
        self.layer2 = _stage(256, 128, 4, 2)
        self.layer3 = _stage(512, 256, 6, 2)
        self.layer4 = _stage(1024, 512, 3, 2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x (B, 3, H, W) normalised RGB -> [C3 (B,512,H/8,W/8), C4 (B,1024,/16), C5 (B,2048,/32)]
        (sizes rounded up per stride-2 step)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c3 = self.layer2(self.layer1(x))
        c4 = self.layer3(c3)
        return [c3, c4, self.layer4(c4)]


class Backbone(nn.Module):
    """Official ``backbone.0``: holds the ResNet as ``body``."""

    def __init__(self) -> None:
        super().__init__()
        self.body = ResNet50()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """See :meth:`ResNet50.forward`."""
        features: list[torch.Tensor] = self.body(x)
        return features
