"""ShuffleNet V2 for CIFAR (Ma et al. 2018), the KD literature's ``ShuffleV2`` student."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmengine.registry import MODELS
from torch import Tensor
from torchvision.models.shufflenetv2 import channel_shuffle

from .arch_base import ArchBase, Stages


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
             depthwise: bool = False) -> tuple:
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2,
                     groups=in_channels if depthwise else 1, bias=False)
    return conv, nn.BatchNorm2d(out_channels)


class ShuffleV2DownBlock(nn.Module):
    """Stride-2 unit: both branches see the whole input, outputs concatenated and shuffled.

    Left: dw3x3/2-BN, 1x1-BN-ReLU. Right: 1x1-BN-ReLU, dw3x3/2-BN, 1x1-BN-ReLU.
    Parameter names (``conv1`` ... ``conv5``) follow RepDistiller / mdistiller.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels (half per branch).
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        mid = out_channels // 2
        self.conv1, self.bn1 = _conv_bn(in_channels, in_channels, 3, 2, depthwise=True)
        self.conv2, self.bn2 = _conv_bn(in_channels, mid, 1)
        self.conv3, self.bn3 = _conv_bn(in_channels, mid, 1)
        self.conv4, self.bn4 = _conv_bn(mid, mid, 3, 2, depthwise=True)
        self.conv5, self.bn5 = _conv_bn(mid, mid, 1)

    def forward(self, x: Tensor) -> Tensor:
        left = torch.relu(self.bn2(self.conv2(self.bn1(self.conv1(x)))))
        right = torch.relu(self.bn3(self.conv3(x)))
        right = torch.relu(self.bn5(self.conv5(self.bn4(self.conv4(right)))))
        return channel_shuffle(torch.cat([left, right], dim=1), 2)


class ShuffleV2Block(nn.Module):
    """Stride-1 unit: split channels in half, transform one half, concatenate, shuffle.

    Branch: 1x1-BN-ReLU, dw3x3-BN, 1x1-BN-ReLU on the second half; the first half is passed
    through unchanged.

    Args:
        channels (int): Input = output channels.
    """

    def __init__(self, channels: int):
        super().__init__()
        half = channels // 2
        self.conv1, self.bn1 = _conv_bn(half, half, 1)
        self.conv2, self.bn2 = _conv_bn(half, half, 3, depthwise=True)
        self.conv3, self.bn3 = _conv_bn(half, half, 1)

    def forward_preact(self, x: Tensor) -> Tensor:
        """The unit's pre-activation as the public KD code returns it: ``cat[x1, bn3(...)]``,
        the branch without its final ReLU, *before* the channel shuffle (RepDistiller's /
        mdistiller's / the ReviewKD CIFAR code's ``preact``).

        The pass-through half is already non-negative (it is a previous unit's ReLU output),
        so ``channel_shuffle(relu(forward_preact(x)), 2) == forward(x)``.
        """
        x1, x2 = x.chunk(2, dim=1)
        out = torch.relu(self.bn1(self.conv1(x2)))
        out = self.bn3(self.conv3(self.bn2(self.conv2(out))))
        return torch.cat([x1, out], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        x1, x2 = x.chunk(2, dim=1)
        out = torch.relu(self.bn1(self.conv1(x2)))
        out = torch.relu(self.bn3(self.conv3(self.bn2(self.conv2(out)))))
        return channel_shuffle(torch.cat([x1, out], dim=1), 2)


@MODELS.register_module()
class ShuffleNetV2(ArchBase):
    """CIFAR ShuffleNet V2 1x (``ShuffleV2`` of RepDistiller / mdistiller), ~1.36M params.

    1x1 conv stem (24 channels, stride 1) + BN + ReLU; three stages, each a stride-2 unit
    followed by ``num_blocks`` stride-1 units (32 -> 16 -> 8 -> 4 for 32 x 32 inputs); a final
    1x1 conv + BN + ReLU to ``out_channels[3]`` channels, global average pooling and a linear
    classifier (``linear``).

    Features (the public KD code's): ``stages[0]`` = stem after ReLU; ``stages[i]`` = output
    of stage i (116 / 232 / 464 channels); ``preact_stages[i]`` = last unit of stage i without
    its final ReLU and before its channel shuffle, as RepDistiller / mdistiller return it
    (``channel_shuffle(relu(preact), 2) == stage``); ``feat_map`` = output of the final 1x1
    conv-BN-ReLU (1024 channels), which is not a stage.

    Args:
        out_channels (Sequence[int]): Channels of the three stages and of the final conv.
            Defaults to (116, 232, 464, 1024) (net size 1).
        num_blocks (Sequence[int]): Stride-1 units per stage. Defaults to (3, 7, 3).
        num_classes (int): Defaults to 100.
        out_indices (Sequence[int], optional): Backbone mode, indices into the three stages.
        init_cfg (dict | list[dict], optional): mmengine init config.
    """

    stem_channels = 24

    def __init__(self,
                 out_channels: Sequence[int] = (116, 232, 464, 1024),
                 num_blocks: Sequence[int] = (3, 7, 3),
                 num_classes: int = 100,
                 out_indices: Optional[Sequence[int]] = None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if len(out_channels) != 4 or len(num_blocks) != 3:
            raise ValueError(f'ShuffleNetV2: out_channels needs 4 entries and num_blocks 3, got '
                             f'{out_channels!r} and {num_blocks!r}')
        self.conv1, self.bn1 = _conv_bn(3, self.stem_channels, 1)
        in_channels = self.stem_channels
        for i, (channels, n) in enumerate(zip(out_channels[:3], num_blocks), start=1):
            blocks = [ShuffleV2DownBlock(in_channels, channels)]
            blocks += [ShuffleV2Block(channels) for _ in range(n)]
            self.add_module(f'layer{i}', nn.Sequential(*blocks))
            in_channels = channels
        self.conv2, self.bn2 = _conv_bn(out_channels[2], out_channels[3], 1)
        self.linear = nn.Linear(out_channels[3], num_classes)
        self._setup_contract([self.stem_channels, *out_channels[:3]], out_channels[3],
                             num_classes, out_indices, ('conv2', 'bn2', 'linear'))

    @property
    def classifier(self) -> nn.Linear:
        """The final linear layer (stored as ``linear``)."""
        return self.linear

    def forward_stages(self, x: Tensor) -> Stages:
        """Stem and the three stages; see the class docstring."""
        x = torch.relu(self.bn1(self.conv1(x)))
        stages, preacts = [x], [x]
        for layer in (self.layer1, self.layer2, self.layer3):
            for block in list(layer)[:-1]:
                x = block(x)
            preact = layer[-1].forward_preact(x)
            x = channel_shuffle(torch.relu(preact), 2)  # == layer[-1](x), see forward_preact
            stages.append(x)
            preacts.append(preact)
        return stages, preacts

    def forward_head(self, last_stage: Tensor) -> Tensor:
        """Final 1x1 conv-BN-ReLU (464 -> 1024 channels)."""
        return torch.relu(self.bn2(self.conv2(last_stage)))
