"""torchvision's ImageNet MobileNetV2 with the kd_transfer feature contract."""
from typing import List, Optional, Sequence

import copy

from mmengine.registry import MODELS
from torch import Tensor
from torchvision.models.mobilenetv2 import MobileNetV2

from .arch_base import ArchBase, LinearHead, Stages


@MODELS.register_module()
class TVMobileNetV2(MobileNetV2, ArchBase):
    """``torchvision.models.MobileNetV2`` itself, keys exactly torchvision's.

    ``features.*`` and ``classifier.1.*`` as in torchvision, so a torchvision checkpoint loads
    with ``strict=True`` and gives the same logits. The only change is the class of
    ``classifier``: torchvision's ``Sequential(Dropout, Linear)`` becomes a :class:`LinearHead`
    with the same two children, which also exposes the linear layer's ``weight`` /
    ``in_features`` etc. (in training mode applying it to local vectors applies the dropout too).

    Features, at strides 2 / 4 / 8 / 16 / 32 (where the resolution changes):
    ``stages[0]`` = ``features[0:2]`` (stem conv + first inverted residual, 16 channels at
    width 1), ``stages[1..4]`` = outputs of ``features[2:4]``, ``[4:7]``, ``[7:14]``,
    ``[14:18]`` (24, 32, 96, 320 channels: the layers mmdet's MobileNetV2 returns for
    out_indices (1, 2, 4, 7)). Inverted residuals end in a linear bottleneck (BN, no ReLU),
    so ``preact_stages == stages``. ``feat_map`` = output of the final 1x1 conv
    (``features[18]``, 1280 channels), not a stage.

    Args:
        num_classes (int): Defaults to 1000.
        width_mult (float): Width multiplier. Defaults to 1.0.
        dropout (float): Dropout before the linear layer. Defaults to 0.2 (torchvision's).
        out_indices (Sequence[int], optional): Backbone mode, indices into the four stages.
        init_cfg (dict | list[dict], optional): mmengine init config.
    """

    def __init__(self,
                 num_classes: int = 1000,
                 width_mult: float = 1.0,
                 dropout: float = 0.2,
                 out_indices: Optional[Sequence[int]] = None,
                 init_cfg=None):
        # MobileNetV2.__init__ reaches mmengine's BaseModule.__init__ (init_cfg=None) via super().
        super().__init__(num_classes=num_classes, width_mult=width_mult, dropout=dropout)
        self.init_cfg = copy.deepcopy(init_cfg)
        self.classifier = LinearHead(*self.classifier)
        # Each stage ends right before an inverted residual of stride 2; the last one right
        # before the final 1x1 conv.
        # features = [stem conv, inverted residuals 1 .. n-2, final 1x1 conv n-1].
        n = len(self.features)
        ends = [i for i in range(1, n - 2) if self.features[i + 1].stride == 2]
        self._stage_ends: List[int] = ends + [n - 2]
        stage_channels = [self.features[i].out_channels for i in self._stage_ends]
        self._setup_contract(stage_channels, self.last_channel, num_classes, out_indices,
                             (f'features.{n - 1}', 'classifier'))

    # torchvision's forward would only give logits; use the contract's.
    forward = ArchBase.forward

    def forward_stages(self, x: Tensor) -> Stages:
        """The outputs at strides 2, 4, 8, 16, 32; see the class docstring."""
        stages = []
        start = 0
        for end in self._stage_ends:
            for layer in self.features[start:end + 1]:
                x = layer(x)
            stages.append(x)
            start = end + 1
        return stages, list(stages)

    def forward_head(self, last_stage: Tensor) -> Tensor:
        """Final 1x1 conv-BN-ReLU6 (``features[-1]``)."""
        return self.features[-1](last_stage)
