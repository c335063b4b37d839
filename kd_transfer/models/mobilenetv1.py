"""MobileNet V1 for ImageNet (Howard et al. 2017) in the layout of the KD literature's code.

The ImageNet student of the ReviewKD and DKD papers' ResNet-50 -> MobileNet pair: the
``MobileNet`` of the official ReviewKD code (``ImageNet/models/mobilenet.py``), which mdistiller
copied as ``MobileNetV1`` (``mdistiller/models/imagenet/mobilenetv1.py``). The parameter names
are theirs (``model.<i>.<j>.*``, ``fc.*``), so their checkpoints load strictly.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmengine.registry import MODELS
from torch import Tensor

from .arch_base import ArchBase, Stages

#: (output channels, stride) of the 13 depthwise-separable blocks after the stem conv.
_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
           (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))
#: Index in ``model`` of the last block of the stem and of each stage (strides 2, 4, 8, 16, 32).
_STAGE_ENDS = (1, 3, 5, 11, 13)


def _conv_bn(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """3x3 conv-BN-ReLU (``model.0``)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def _conv_dw(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """Depthwise 3x3-BN-ReLU, pointwise 1x1-BN-ReLU (``model.1`` ... ``model.13``)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False),
        nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True),
        nn.Conv2d(in_channels, out_channels, 1, 1, 0, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


@MODELS.register_module()
class MobileNetV1(ArchBase):
    """MobileNet V1 1.0-224 (4.2M parameters), the layout of the public KD code.

    ``model`` = a 3x3 conv-BN-ReLU stem at stride 2 (32 channels) and 13 depthwise-separable
    blocks (64 ... 1024 channels, stride 32 in total); global average pooling (the public
    code's ``model.14 = AvgPool2d(7)`` for 224 x 224 inputs; here the spatial mean, which is
    the same there and works for any input size; it has no parameters, so the keys are
    unchanged) and ``fc``, a linear classifier.

    Features (the public code's ``extract_feature`` / mdistiller's ``feats`` and
    ``preact_feats``): ``stages[1..4]`` = outputs of ``model[3]``, ``model[5]``, ``model[11]``,
    ``model[13]`` (128, 256, 512, 1024 channels at strides 4, 8, 16, 32); ``preact_stages[i]``
    = the same block without its final ReLU (``relu(preact) == stage``); ``feat_map =
    stages[4]``. The public code has no stem feature; ``stages[0]`` here is the output of
    ``model[1]`` (64 channels, stride 2), ``preact_stages[0]`` the same before its ReLU.

    Args:
        num_classes (int): Defaults to 1000.
        out_indices (Sequence[int], optional): Backbone mode, indices into the four stages.
        init_cfg (dict | list[dict], optional): mmengine init config.
    """

    def __init__(self,
                 num_classes: int = 1000,
                 out_indices: Optional[Sequence[int]] = None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        layers = [_conv_bn(3, 32, 2)]
        in_channels = 32
        for out_channels, stride in _BLOCKS:
            layers.append(_conv_dw(in_channels, out_channels, stride))
            in_channels = out_channels
        self.model = nn.Sequential(*layers)
        self.fc = nn.Linear(in_channels, num_classes)
        stage_channels = [_BLOCKS[i - 1][0] for i in _STAGE_ENDS]
        self._setup_contract(stage_channels, in_channels, num_classes, out_indices, ('fc',))

    @property
    def classifier(self) -> nn.Linear:
        """The final linear layer (stored as ``fc``)."""
        return self.fc

    def forward_stages(self, x: Tensor) -> Stages:
        """Stem and the four stages; see the class docstring."""
        stages, preacts = [], []
        start = 0
        for end in _STAGE_ENDS:
            for block in self.model[start:end]:
                x = block(x)
            preact = self.model[end][:-1](x)  # the last block without its final ReLU
            x = torch.relu(preact)
            stages.append(x)
            preacts.append(preact)
            start = end + 1
        return stages, preacts
