"""Short architecture names (``resnet8x4``, ``wrn40_2``...) of architecture configs: the one
place the exporter's provenance and the report read them from.

A config that equals an entry of :data:`kd_transfer.models.ARCHS` gets that entry's name;
another config of a known type is named by the same pattern (:data:`ARCH_NAMERS`: a
``CifarResNet`` of depth 26 is ``resnet26``).
"""
from typing import Any, Callable, Dict, Optional

#: Keys of an architecture config that do not identify the architecture.
NON_ARCH_KEYS = ('num_classes', 'out_indices', 'init_cfg', 'pretrained', '_scope_')


def _cifar_resnet_name(cfg: dict) -> str:
    width = cfg.get('width', 1)
    return f"resnet{cfg['depth']}" + ('' if width in (1, None) else f'x{width}')


#: Architecture type -> the naming pattern of :data:`ARCHS` for configs the table does not
#: list (raises KeyError when a field the name needs is missing).
ARCH_NAMERS: Dict[str, Callable[[dict], str]] = {
    'CifarResNet': _cifar_resnet_name,
    'WideResNet': lambda c: f"wrn{c['depth']}_{c['widen_factor']}",
    'ShuffleNetV1': lambda c: 'shufflev1',
    'ShuffleNetV2': lambda c: 'shufflev2',
    'CifarMobileNetV2': lambda c: 'mobilenetv2_cifar',
    'TVResNet': lambda c: f"resnet{c['depth']}",
    'TVMobileNetV2': lambda c: 'mobilenetv2',
    'MobileNetV1': lambda c: 'mobilenetv1',
}


def arch_name_of(cfg: Any) -> Optional[str]:
    """The :data:`ARCHS` entry an architecture config builds, or None if none matches.

    Args:
        cfg (dict): e.g. ``dict(type='TVResNet', depth=18, num_classes=1000)``.
    """
    from . import ARCHS
    if not isinstance(cfg, dict) or 'type' not in cfg:
        return None
    own = {k: v for k, v in cfg.items() if k not in NON_ARCH_KEYS}
    best, best_size = None, -1
    for name, arch in ARCHS.items():
        ref = {k: v for k, v in arch.items() if k not in NON_ARCH_KEYS}
        # every key the table sets must agree; keys the table leaves out are defaults
        if all(own.get(k) == v for k, v in ref.items()) and len(ref) > best_size:
            best, best_size = name, len(ref)
    return best


def arch_short_name(cfg: Any) -> Optional[str]:
    """:func:`arch_name_of`, else the :data:`ARCH_NAMERS` pattern of its type, else None.

    Raises:
        KeyError: a field the pattern needs (e.g. ``depth``) is missing.
    """
    name = arch_name_of(cfg)
    if name is None and isinstance(cfg, dict) and cfg.get('type') in ARCH_NAMERS:
        name = ARCH_NAMERS[cfg['type']](cfg)
    return name
