"""ShuffleNet V1 for CIFAR (Zhang et al. 2018), the KD literature's ``ShuffleV1`` student."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmengine.registry import MODELS
from torch import Tensor
from torchvision.models.shufflenetv2 import channel_shuffle

from .arch_base import ArchBase, Stages, run_stage_with_preact


class ShuffleV1Block(nn.Module):
    """ShuffleNet unit: gconv1x1-BN-ReLU, shuffle, dwconv3x3-BN-ReLU, gconv1x1-BN, + shortcut, ReLU.

    Stride 1: ``relu(branch + x)``. Stride 2: ``relu(cat[branch, avgpool3x3/2(x)])``, so the
    block's output has ``branch_channels + in_channels`` channels. As in the CIFAR code of
    RepDistiller / mdistiller the depthwise conv is followed by a ReLU.

    Args:
        in_channels (int): Input channels.
        branch_channels (int): Output channels of the residual branch.
        stride (int): 1 or 2.
        groups (int): Groups of the pointwise convs.
        first_groups (int): Groups of the first pointwise conv (1 right after the stem, whose
            24 channels are too few to split).
    """

    def __init__(self, in_channels: int, branch_channels: int, stride: int, groups: int,
                 first_groups: int):
        super().__init__()
        mid = branch_channels // 4
        self.stride = stride
        self.first_groups = first_groups
        self.conv1 = nn.Conv2d(in_channels, mid, 1, groups=first_groups, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, padding=1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, branch_channels, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(branch_channels)
        self.shortcut = nn.AvgPool2d(3, stride=2, padding=1) if stride == 2 else nn.Identity()

    def forward_preact(self, x: Tensor) -> Tensor:
        """The block output before its final ReLU."""
        out = torch.relu(self.bn1(self.conv1(x)))
        out = channel_shuffle(out, self.first_groups)
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.stride == 2:
            return torch.cat([out, self.shortcut(x)], dim=1)
        return out + x

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.forward_preact(x))


@MODELS.register_module()
class ShuffleNetV1(ArchBase):
    """CIFAR ShuffleNet V1 (``ShuffleV1`` of RepDistiller / mdistiller): g = 3, ~0.95M params.

    1x1 conv stem (24 channels, stride 1) + BN + ReLU, three stages of ``num_blocks`` units
    whose first unit has stride 2 (32 -> 16 -> 8 -> 4 for 32 x 32 inputs), global average
    pooling of the 4 x 4 map and a linear classifier (``linear``, as in the public code).

    Features: ``stages[0]`` = stem after ReLU; ``stages[i]`` = output of stage i;
    ``preact_stages[i]`` = last unit of stage i before its ReLU (``relu(preact) == stage``);
    ``feat_map = stages[-1]``.

    Args:
        out_channels (Sequence[int]): Output channels of the three stages.
            Defaults to (240, 480, 960).
        num_blocks (Sequence[int]): Units per stage. Defaults to (4, 8, 4).
        groups (int): Groups of the pointwise convs. Defaults to 3.
        num_classes (int): Defaults to 100.
        out_indices (Sequence[int], optional): Backbone mode, indices into the three stages.
        init_cfg (dict | list[dict], optional): mmengine init config.
    """

    stem_channels = 24

    def __init__(self,
                 out_channels: Sequence[int] = (240, 480, 960),
                 num_blocks: Sequence[int] = (4, 8, 4),
                 groups: int = 3,
                 num_classes: int = 100,
                 out_indices: Optional[Sequence[int]] = None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if len(out_channels) != 3 or len(num_blocks) != 3:
            raise ValueError(f'ShuffleNetV1: out_channels and num_blocks need 3 entries, got '
                             f'{out_channels!r} and {num_blocks!r}')
        self.conv1 = nn.Conv2d(3, self.stem_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(self.stem_channels)
        in_channels = self.stem_channels
        for i, (channels, n) in enumerate(zip(out_channels, num_blocks), start=1):
            blocks = []
            for j in range(n):
                first = j == 0
                blocks.append(ShuffleV1Block(
                    in_channels, channels - in_channels if first else channels,
                    stride=2 if first else 1, groups=groups,
                    first_groups=1 if in_channels == self.stem_channels else groups))
                in_channels = channels
            self.add_module(f'layer{i}', nn.Sequential(*blocks))
        self.linear = nn.Linear(out_channels[-1], num_classes)
        self._setup_contract([self.stem_channels, *out_channels], out_channels[-1], num_classes,
                             out_indices, ('linear',))

    @property
    def classifier(self) -> nn.Linear:
        """The final linear layer (stored as ``linear``)."""
        return self.linear

    def forward_stages(self, x: Tensor) -> Stages:
        """Stem and the three stages; see the class docstring."""
        x = torch.relu(self.bn1(self.conv1(x)))
        stages, preacts = [x], [x]
        for layer in (self.layer1, self.layer2, self.layer3):
            x, preact = run_stage_with_preact(layer, x, lambda b, t: b.forward_preact(t))
            stages.append(x)
            preacts.append(preact)
        return stages, preacts
