"""MobileNetV2 for CIFAR as used in KD papers (RepDistiller's / mdistiller's ``mobile_half``)."""
from typing import Optional, Sequence

import math

import torch.nn as nn
from mmengine.registry import MODELS
from torch import Tensor

from .arch_base import ArchBase, LinearHead, Stages

# t (expansion; None = the model's expand_ratio), c (channels at width 1), n (blocks), s (stride)
_SETTING = ((1, 16, 1, 1), (None, 24, 2, 1), (None, 32, 3, 2), (None, 64, 4, 2),
            (None, 96, 3, 1), (None, 160, 3, 2), (None, 320, 1, 1))
# Block groups that end each feature stage (stride changes after them): 0-1, 2, 3-4, 5-6.
_STAGE_ENDS = (1, 2, 4, 6)


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int,
                  stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class CifarInvertedResidual(nn.Module):
    """Inverted residual with linear bottleneck, as in the CIFAR KD code.

    ``conv`` = pw1x1-BN-ReLU, dw3x3-BN-ReLU, pw1x1-BN (no activation); identity shortcut when
    stride is 1 and channels are unchanged. Unlike torchvision's ``InvertedResidual`` (which
    does not fit here) the expansion conv is kept for t = 1 and the activation is ReLU, not
    ReLU6, so the parameters and names equal RepDistiller's / mdistiller's.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (int): Stride of the depthwise conv.
        expand_ratio (int): t, hidden channels = t * in_channels.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = in_channels * expand_ratio
        self.use_res_connect = stride == 1 and in_channels == out_channels
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        return x + out if self.use_res_connect else out


@MODELS.register_module()
class CifarMobileNetV2(ArchBase):
    """CIFAR MobileNetV2 (``mobile_half``: expansion 6, width 0.5), ~0.81M params at 100 classes.

    3x3 conv stem + BN + ReLU, seven groups of inverted residuals (strides 1, 1, 2, 2, 1, 2, 1:
    the original's second stride-2 group is stride 1 here), a 1x1 conv + BN + ReLU to 1280
    channels (``1280 * width_mult`` if ``width_mult > 1``), global average pooling and a linear
    classifier (``classifier.0``, a :class:`LinearHead` so the names match the public code).

    The stem stride is 2 as in RepDistiller / mdistiller (whose reference accuracies use it):
    a 32 x 32 input gives maps of 16, 16, 8, 4, 2. ``stem_stride=1`` keeps twice the resolution
    everywhere (4 x 4 final map) at 4x the compute, for the same parameters.

    Features (the public code's positions): ``stages[0]`` = stem output (after ReLU);
    ``stages[1..4]`` = outputs of block groups 0-1, 2, 3-4, 5-6 (channels 12, 16, 48, 160 at
    width 0.5). Inverted residuals end in a linear bottleneck (BN, no ReLU), so
    ``preact_stages == stages``. ``feat_map`` = output of the final 1x1 conv (not a stage).

    Args:
        num_classes (int): Defaults to 100.
        width_mult (float): Width multiplier. Defaults to 0.5.
        expand_ratio (int): Expansion t of all but the first group. Defaults to 6.
        stem_stride (int): 1 or 2. Defaults to 2.
        out_indices (Sequence[int], optional): Backbone mode, indices into the four stages.
        init_cfg (dict | list[dict], optional): mmengine init config.
    """

    def __init__(self,
                 num_classes: int = 100,
                 width_mult: float = 0.5,
                 expand_ratio: int = 6,
                 stem_stride: int = 2,
                 out_indices: Optional[Sequence[int]] = None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if stem_stride not in (1, 2):
            raise ValueError(f'CifarMobileNetV2: stem_stride must be 1 or 2, got {stem_stride!r}')
        if width_mult <= 0:
            raise ValueError(f'CifarMobileNetV2: width_mult must be positive, got {width_mult!r}')
        in_channels = int(32 * width_mult)
        self.conv1 = _conv_bn_relu(3, in_channels, 3, stem_stride)
        self.blocks = nn.ModuleList()
        group_channels = []
        for t, c, n, s in _SETTING:
            out_channels = int(c * width_mult)
            layers = []
            for i in range(n):
                layers.append(CifarInvertedResidual(in_channels, out_channels, s if i == 0 else 1,
                                                    expand_ratio if t is None else t))
                in_channels = out_channels
            self.blocks.append(nn.Sequential(*layers))
            group_channels.append(out_channels)
        last_channels = int(1280 * width_mult) if width_mult > 1.0 else 1280
        self.conv2 = _conv_bn_relu(in_channels, last_channels, 1)
        self.classifier = LinearHead(nn.Linear(last_channels, num_classes))

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)
        stage_channels = [int(32 * width_mult)] + [group_channels[i] for i in _STAGE_ENDS]
        self._setup_contract(stage_channels, last_channels, num_classes, out_indices,
                             ('conv2', 'classifier'))

    def forward_stages(self, x: Tensor) -> Stages:
        """Stem and the four stages; see the class docstring."""
        x = self.conv1(x)
        stages = [x]
        start = 0
        for end in _STAGE_ENDS:
            for group in self.blocks[start:end + 1]:
                x = group(x)
            stages.append(x)
            start = end + 1
        return stages, list(stages)

    def forward_head(self, last_stage: Tensor) -> Tensor:
        """Final 1x1 conv-BN-ReLU to 1280 channels."""
        return self.conv2(last_stage)
