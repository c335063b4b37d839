"""The CIFAR ResNets of the knowledge-distillation literature (RepDistiller / mdistiller)."""
from typing import Optional, Sequence

import torch.nn as nn
from mmengine.registry import MODELS
from torch import Tensor
from torchvision.models.resnet import BasicBlock

from .arch_base import ArchBase, Stages, resnet_block_preact, run_stage_with_preact


@MODELS.register_module()
class CifarResNet(ArchBase):
    """ResNet-(6n+2) for 32 x 32 inputs (He et al. 2016, CIFAR variant, as used in KD papers).

    3x3 conv stem (stride 1) + BN + ReLU, then three stages of n = (depth - 2) / 6 basic
    blocks (torchvision's ``BasicBlock``) at strides 1, 2, 2, a 1x1-conv + BN projection
    shortcut wherever the shape changes (option B), global average pooling of the 8 x 8 map
    (for 32 x 32 inputs) and a linear classifier.

    Channels (stem, stage1, stage2, stage3): ``width=1`` -> [16, 16, 32, 64] (resnet8 ...
    resnet110); ``width=4`` -> [32, 64, 128, 256] (resnet8x4, resnet32x4).
    Parameter names equal RepDistiller's / mdistiller's (``conv1``, ``bn1``, ``layer1.0.conv1``,
    ``layer1.0.downsample.0``, ..., ``fc``), so their checkpoints load strictly.

    Features: ``stages[0]`` is the stem output after its ReLU; ``stages[i]`` is the output of
    stage i; ``preact_stages[i]`` is the last block of stage i before its final ReLU, i.e.
    ``relu(preact_stages[i]) == stages[i]``; ``feat_map`` is ``stages[-1]``.

    Args:
        depth (int): 6n + 2, e.g. 8, 14, 20, 32, 44, 56, 110.
        width (int): 1 or 4 (see above). Defaults to 1.
        num_classes (int): Defaults to 100.
        out_indices (Sequence[int], optional): Backbone mode, indices into the three stages.
        init_cfg (dict | list[dict], optional): mmengine init config (e.g. ``Pretrained``).
    """

    _CHANNELS = {1: (16, 16, 32, 64), 4: (32, 64, 128, 256)}

    def __init__(self,
                 depth: int,
                 width: int = 1,
                 num_classes: int = 100,
                 out_indices: Optional[Sequence[int]] = None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
            raise ValueError(f'CifarResNet: depth must be 6n + 2 with n >= 1 (8, 14, 20, ...), '
                             f'got {depth!r}')
        if width not in self._CHANNELS:
            raise ValueError(f'CifarResNet: width must be one of {sorted(self._CHANNELS)}, '
                             f'got {width!r}')
        self.depth = depth
        self.width = width
        channels = self._CHANNELS[width]
        blocks_per_stage = (depth - 2) // 6

        self.conv1 = nn.Conv2d(3, channels[0], kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels[0])
        self.relu = nn.ReLU(inplace=True)
        in_channels = channels[0]
        for i, (out_channels, stride) in enumerate(zip(channels[1:], (1, 2, 2)), start=1):
            self.add_module(f'layer{i}', self._make_stage(in_channels, out_channels,
                                                          blocks_per_stage, stride))
            in_channels = out_channels
        self.fc = nn.Linear(channels[-1], num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self._setup_contract(channels, channels[-1], num_classes, out_indices, ('fc',))

    @staticmethod
    def _make_stage(in_channels: int, out_channels: int, num_blocks: int,
                    stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or in_channels != out_channels:
            downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels))
        blocks = [BasicBlock(in_channels, out_channels, stride, downsample)]
        blocks += [BasicBlock(out_channels, out_channels) for _ in range(num_blocks - 1)]
        return nn.Sequential(*blocks)

    @property
    def classifier(self) -> nn.Linear:
        """The final linear layer (stored as ``fc``)."""
        return self.fc

    def forward_stages(self, x: Tensor) -> Stages:
        """Stem and the three stages; see the class docstring."""
        x = self.relu(self.bn1(self.conv1(x)))
        stages, preacts = [x], [x]
        for layer in (self.layer1, self.layer2, self.layer3):
            x, preact = run_stage_with_preact(layer, x, resnet_block_preact)
            stages.append(x)
            preacts.append(preact)
        return stages, preacts
