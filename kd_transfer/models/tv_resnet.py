"""torchvision's ImageNet ResNets with the kd_transfer feature contract."""
from typing import Optional, Sequence

import copy

import torch
import torch.nn as nn
from mmengine.registry import MODELS
from torch import Tensor
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from .arch_base import ArchBase, Stages, resnet_block_preact, run_stage_with_preact

_LAYOUTS = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


@MODELS.register_module()
class TVResNet(ResNet, ArchBase):
    """``torchvision.models.ResNet`` itself (a subclass adding no parameters or buffers).

    ``state_dict()`` keys are exactly torchvision's (``conv1.weight``, ``bn1.*``,
    ``layer1.0.conv1.weight``, ..., ``fc.weight``, ``fc.bias``): a torchvision checkpoint loads
    with ``strict=True`` and gives the same logits, and a trained model exports to mmdet's /
    mmseg's ``ResNet`` (``style='pytorch'``) unchanged. Weights are initialised by torchvision's
    ``__init__``; ``init_cfg`` (e.g. ``dict(type='Pretrained', checkpoint=...)``) is applied by
    :meth:`init_weights`.

    Features, the tensors of mdistiller's ImageNet ResNet (``feats`` / ``preact_feats``) and of
    the official ReviewKD ImageNet code: ``stages[0]`` = stem ``relu(bn1(conv1(x)))``, before
    the max-pool (stride 2; 64 channels), ``preact_stages[0] = bn1(conv1(x))``;
    ``stages[1..4]`` = outputs of ``layer1..layer4`` (strides 4, 8, 16, 32);
    ``preact_stages[i]`` = the last block of ``layer i`` computed by its own submodules
    without the final ReLU (``relu(preact) == stage``); ``feat_map = stages[4]``.

    Args:
        depth (int): 18, 34, 50, 101 or 152.
        num_classes (int): Defaults to 1000.
        out_indices (Sequence[int], optional): Backbone mode, indices into ``layer1..layer4``
            (``(0, 1, 2, 3)`` = all four, as mmdet's ResNet).
        init_cfg (dict | list[dict], optional): mmengine init config.
    """

    def __init__(self,
                 depth: int,
                 num_classes: int = 1000,
                 out_indices: Optional[Sequence[int]] = None,
                 init_cfg=None):
        if depth not in _LAYOUTS:
            raise ValueError(f'TVResNet: depth must be one of {sorted(_LAYOUTS)}, got {depth!r}')
        block, layers = _LAYOUTS[depth]
        # ResNet.__init__ reaches mmengine's BaseModule.__init__ (init_cfg=None) via super().
        super().__init__(block, list(layers), num_classes=num_classes)
        self.init_cfg = copy.deepcopy(init_cfg)
        self.depth = depth
        widths = [64 * block.expansion * 2 ** i for i in range(4)]
        self._setup_contract([64, *widths], widths[-1], num_classes, out_indices, ('fc',))

    # torchvision's forward would only give logits; use the contract's.
    forward = ArchBase.forward

    @property
    def classifier(self) -> nn.Linear:
        """The final linear layer (torchvision's ``fc``)."""
        return self.fc

    def forward_stages(self, x: Tensor) -> Stages:
        """Stem (before the max-pool) and ``layer1..layer4``; see the class docstring."""
        preact = self.bn1(self.conv1(x))
        stem = torch.relu(preact)
        stages, preacts = [stem], [preact]
        x = self.maxpool(stem)
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x, preact = run_stage_with_preact(layer, x, resnet_block_preact)
            stages.append(x)
            preacts.append(preact)
        return stages, preacts
