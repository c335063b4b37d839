"""Wide residual networks for CIFAR (Zagoruyko & Komodakis 2016), as used in KD papers."""
from typing import Dict, List, Optional, Sequence, Union

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import MODELS
from torch import Tensor

from .arch_base import ArchBase, Stages


class WRNBlock(nn.Module):
    """Pre-activation basic block: BN-ReLU-conv3x3-BN-ReLU-(dropout)-conv3x3, plus shortcut.

    When the shape changes the shortcut is a 1x1 conv applied to the *activated* input
    (``relu(bn1(x))``), otherwise the raw input. The output has no activation. Attribute names
    (``convShortcut`` included) follow the public WRN / RepDistiller code so its checkpoints load.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (int): Stride of the first conv and of the shortcut.
        dropout (float): Dropout probability between the two convs.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, dropout: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.dropout = dropout
        self.equal_in_out = in_channels == out_channels and stride == 1
        self.convShortcut = None if self.equal_in_out else nn.Conv2d(  # noqa: N815
            in_channels, out_channels, 1, stride, bias=False)

    def forward(self, x: Tensor, normed: Optional[Tensor] = None) -> Tensor:
        """Run the block.

        Args:
            x (Tensor): Block input.
            normed (Tensor, optional): ``bn1(x)`` when the caller has already computed it
                (it is a feature of the network); then ``bn1`` is not run a second time, so
                its running statistics are updated once per step, as in an ordinary pass.

        Returns:
            Tensor: ``conv2(...) + shortcut``, no activation.
        """
        act = self.relu1(self.bn1(x)) if normed is None else torch.relu(normed)
        shortcut = x if self.equal_in_out else self.convShortcut(act)
        out = self.relu2(self.bn2(self.conv1(act)))
        if self.dropout > 0:
            out = F.dropout(out, p=self.dropout, training=self.training)
        return self.conv2(out) + shortcut


class WRNStage(nn.Module):
    """``num_blocks`` :class:`WRNBlock` s in ``self.layer`` (the public code's ``NetworkBlock``)."""

    def __init__(self, num_blocks: int, in_channels: int, out_channels: int, stride: int,
                 dropout: float = 0.0):
        super().__init__()
        self.layer = nn.Sequential(*[
            WRNBlock(in_channels if i == 0 else out_channels, out_channels,
                     stride if i == 0 else 1, dropout) for i in range(num_blocks)])

    def forward(self, x: Tensor, normed: Optional[Tensor] = None) -> Tensor:
        """Run the blocks; ``normed`` = ``layer[0].bn1(x)`` if already computed."""
        blocks = list(self.layer)
        x = blocks[0](x, normed)
        for block in blocks[1:]:
            x = block(x)
        return x


@MODELS.register_module()
class WideResNet(ArchBase):
    """WRN-depth-k for 32 x 32 inputs (wrn16_2, wrn40_1, wrn40_2 of the KD literature).

    3x3 conv stem (16 channels, no BN / ReLU: the blocks are pre-activation), three stages of
    n = (depth - 4) / 6 :class:`WRNBlock` s with 16k, 32k, 64k channels at strides 1, 2, 2,
    then the final BN-ReLU, global average pooling (8 x 8 map) and a linear classifier.

    Features, the tensors of the public KD code (RepDistiller's and the official ReviewKD
    CIFAR code's ``forward(is_feat=True, preact=...)``, mdistiller's ``feats`` /
    ``preact_feats``). The network is pre-activation: each stage's output is the raw residual
    sum, and the BN-ReLU that activates it belongs to the next stage's first block (or, after
    stage 3, to the network's final ``bn1`` + ReLU). So:

    - ``stages[0] = preact_stages[0]`` = stem conv output;
    - ``stages[i]`` = raw output of stage i (i = 1, 2, 3; no BN, no ReLU): what AT, FitNets
      and the ReviewKD student read;
    - ``preact_stages[i]`` = that output after the BN that comes next, without its ReLU:
      ``block2.layer[0].bn1(stages[1])``, ``block3.layer[0].bn1(stages[2])``,
      ``bn1(stages[3])``: what the ReviewKD teacher reads;
    - ``feat_map = relu(preact_stages[3]) = relu(bn1(stages[3]))``, the globally pooled map.

    Each of these BNs runs once per forward pass (the next block reuses the normalised
    tensor), so training updates their running statistics exactly as a plain forward does.
    Backbone mode returns ``stages`` (raw block outputs); the final ``bn1`` is part of the
    head there (frozen with ``fc``).

    Args:
        depth (int): 6n + 4, e.g. 16, 40.
        widen_factor (int): k.
        num_classes (int): Defaults to 100.
        dropout (float): Dropout inside the blocks. Defaults to 0.
        out_indices (Sequence[int], optional): Backbone mode, indices into the three stages.
        init_cfg (dict | list[dict], optional): mmengine init config.
    """

    def __init__(self,
                 depth: int,
                 widen_factor: int,
                 num_classes: int = 100,
                 dropout: float = 0.0,
                 out_indices: Optional[Sequence[int]] = None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
            raise ValueError(f'WideResNet: depth must be 6n + 4 with n >= 1 (10, 16, 40, ...), '
                             f'got {depth!r}')
        if not isinstance(widen_factor, int) or widen_factor < 1:
            raise ValueError(f'WideResNet: widen_factor must be a positive int, '
                             f'got {widen_factor!r}')
        self.depth = depth
        self.widen_factor = widen_factor
        channels = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        n = (depth - 4) // 6
        self.conv1 = nn.Conv2d(3, channels[0], 3, 1, padding=1, bias=False)
        self.block1 = WRNStage(n, channels[0], channels[1], 1, dropout)
        self.block2 = WRNStage(n, channels[1], channels[2], 2, dropout)
        self.block3 = WRNStage(n, channels[2], channels[3], 2, dropout)
        self.bn1 = nn.BatchNorm2d(channels[3])
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(channels[3], num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)
        self._setup_contract(channels, channels[3], num_classes, out_indices, ('bn1', 'fc'))

    @property
    def classifier(self) -> nn.Linear:
        """The final linear layer (stored as ``fc``)."""
        return self.fc

    def forward_stages(self, x: Tensor) -> Stages:
        """Stem and the three stages; see the class docstring."""
        stem = self.conv1(x)
        out1 = self.block1(stem)
        pre1 = self.block2.layer[0].bn1(out1)
        out2 = self.block2(out1, pre1)
        pre2 = self.block3.layer[0].bn1(out2)
        out3 = self.block3(out2, pre2)
        return [stem, out1, out2, out3], [stem, pre1, pre2, self.bn1(out3)]

    def forward_head(self, last_stage: Tensor) -> Tensor:
        """Final BN-ReLU: ``relu(bn1(stages[3]))``."""
        return torch.relu(self.bn1(last_stage))

    def forward_features(self, x: Tensor) -> Dict[str, Union[Tensor, List[Tensor]]]:
        """As :meth:`ArchBase.forward_features`, with ``feat_map = relu(preact_stages[3])``
        so that the final BN runs once."""
        stages, preact_stages = self.forward_stages(x)
        return self.feature_dict(stages, preact_stages, torch.relu(preact_stages[-1]))
