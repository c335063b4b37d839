"""torchvision's ImageNet MobileNetV2 with the kd_transfer feature contract."""
from typing import List, Optional, Sequence

import copy

from mmengine.registry import MODELS
from torch import Tensor, nn
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
        strides (Sequence[int], optional): Stride of the first block of each of the seven
            layers of inverted residuals (16, 24, 32, 64, 96, 160, 320 channels at width 1),
            as mmseg's ``MobileNetV2(strides=...)``; default torchvision's (1, 2, 2, 2, 1, 2, 1).
        dilations (Sequence[int], optional): Dilation of the depthwise conv of the first block
            of each layer, as mmseg's ``MobileNetV2(dilations=...)`` (mmseg dilates only the
            first block of a layer; the others keep dilation 1). mmseg's d8 recipe is
            ``strides=(1, 2, 2, 1, 1, 1, 1), dilations=(1, 1, 1, 2, 2, 4, 4)``: output
            stride 8, same parameters and keys.
        init_cfg (dict | list[dict], optional): mmengine init config.
    """

    #: torchvision's (expand ratio, channels, blocks, stride) of the seven layers.
    LAYERS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
              (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self,
                 num_classes: int = 1000,
                 width_mult: float = 1.0,
                 dropout: float = 0.2,
                 out_indices: Optional[Sequence[int]] = None,
                 strides: Optional[Sequence[int]] = None,
                 dilations: Optional[Sequence[int]] = None,
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
        self._dilate(strides, dilations)
        self._setup_contract(stage_channels, self.last_channel, num_classes, out_indices,
                             (f'features.{n - 1}', 'classifier'))

    def _dilate(self, strides: Optional[Sequence[int]],
                dilations: Optional[Sequence[int]]) -> None:
        """Set the stride / dilation of the first block of each layer (mmseg's semantics)."""
        default = tuple(layer[3] for layer in self.LAYERS)
        strides = tuple(default if strides is None else strides)
        dilations = tuple((1, ) * len(default) if dilations is None else dilations)
        if len(strides) != len(default) or len(dilations) != len(default) or \
                not set(strides) <= {1, 2} or any(d < 1 for d in dilations):
            raise ValueError(f'TVMobileNetV2: strides and dilations need one entry per layer '
                             f'({len(default)}), strides 1 or 2 and dilations >= 1; got '
                             f'strides={strides}, dilations={dilations}')
        self.strides, self.dilations = strides, dilations
        first = 1  # features[0] is the stem conv
        for (_, _, blocks, _), stride, dilation in zip(self.LAYERS, strides, dilations):
            block = self.features[first]
            dw = next(m for m in block.conv.modules()
                      if isinstance(m, nn.Conv2d) and m.groups > 1)
            dw.stride, dw.dilation, dw.padding = (stride, ) * 2, (dilation, ) * 2, (dilation, ) * 2
            block.stride = stride
            block.use_res_connect = stride == 1 and self._io(block)  # torchvision's rule
            first += blocks

    @staticmethod
    def _io(block) -> bool:
        """Whether an inverted residual keeps its channel count (a residual connection)."""
        convs = [m for m in block.conv.modules() if isinstance(m, nn.Conv2d)]
        return convs[0].in_channels == block.out_channels

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
