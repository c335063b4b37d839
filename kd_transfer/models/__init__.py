"""Architectures (students / teachers), the classifier and the distiller.

Importing this package registers every architecture in mmengine's root ``MODELS``.
:data:`ARCHS` maps the project's short names to configs; :func:`build_arch` builds one.
"""
import copy
from typing import Dict, List, Union

import torch.nn as nn
from mmengine.registry import MODELS

from .arch_base import ArchBase, LinearHead  # noqa: F401 (re-exported)
from .batch_input import InputsToDevice, same_normalisation  # noqa: F401
from .cifar_resnet import CifarResNet  # noqa: F401
from .mobilenetv1 import MobileNetV1  # noqa: F401
from .mobilenetv2_cifar import CifarMobileNetV2  # noqa: F401
from .shufflenetv1 import ShuffleNetV1  # noqa: F401
from .shufflenetv2 import ShuffleNetV2  # noqa: F401
from .tv_mobilenetv2 import TVMobileNetV2  # noqa: F401
from .tv_resnet import TVResNet  # noqa: F401
from .wrn import WideResNet  # noqa: F401

from .classifier import KDClassifier, attach_predictions, gt_labels  # noqa: F401
from .distiller import Distiller, load_teacher_weights  # noqa: F401
from .names import arch_name_of, arch_short_name  # noqa: F401

#: Short name -> architecture config: CIFAR-100 ones (32 x 32 inputs, 100 classes by default)
#: first, then ImageNet ones (torchvision layouts, 1000 classes by default).
ARCHS: Dict[str, dict] = {
    **{f'resnet{d}': dict(type='CifarResNet', depth=d) for d in (8, 14, 20, 32, 44, 56, 110)},
    'resnet8x4': dict(type='CifarResNet', depth=8, width=4),
    'resnet32x4': dict(type='CifarResNet', depth=32, width=4),
    'wrn16_2': dict(type='WideResNet', depth=16, widen_factor=2),
    'wrn40_1': dict(type='WideResNet', depth=40, widen_factor=1),
    'wrn40_2': dict(type='WideResNet', depth=40, widen_factor=2),
    'shufflev1': dict(type='ShuffleNetV1'),
    'shufflev2': dict(type='ShuffleNetV2'),
    'mobilenetv2_cifar': dict(type='CifarMobileNetV2'),
    'resnet18': dict(type='TVResNet', depth=18),
    'resnet34': dict(type='TVResNet', depth=34),
    'resnet50': dict(type='TVResNet', depth=50),
    'mobilenetv2': dict(type='TVMobileNetV2'),
    'mobilenetv1': dict(type='MobileNetV1'),
}
#: Names of the ImageNet architectures in :data:`ARCHS`.
IMAGENET_ARCHS: List[str] = ['resnet18', 'resnet34', 'resnet50', 'mobilenetv2', 'mobilenetv1']
#: Names of the CIFAR architectures in :data:`ARCHS`.
CIFAR_ARCHS: List[str] = [name for name in ARCHS if name not in IMAGENET_ARCHS]


def build_arch(name_or_cfg: Union[str, dict], **overrides) -> nn.Module:
    """Build an architecture from a short name of :data:`ARCHS` or a config dict.

    Args:
        name_or_cfg (str | dict): e.g. ``'resnet8x4'`` or ``dict(type='CifarResNet', depth=20)``.
        **overrides: Entries added to / replacing those of the config (``num_classes=10``,
            ``out_indices=(0, 1, 2)``, ``init_cfg=...``).

    Returns:
        nn.Module: The architecture (an :class:`ArchBase`).

    Raises:
        ValueError: Unknown short name (the message lists the known ones).
        TypeError: ``name_or_cfg`` is neither a str nor a dict.
    """
    if isinstance(name_or_cfg, str):
        if name_or_cfg not in ARCHS:
            raise ValueError(f'unknown architecture {name_or_cfg!r}; known: {", ".join(ARCHS)}')
        cfg = copy.deepcopy(ARCHS[name_or_cfg])
    elif isinstance(name_or_cfg, dict):
        cfg = copy.deepcopy(name_or_cfg)
    else:
        raise TypeError(f'build_arch expects a short name or a config dict, got '
                        f'{type(name_or_cfg).__name__}')
    cfg.update(overrides)
    return MODELS.build(cfg)

