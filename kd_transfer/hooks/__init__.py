"""Training hooks (registered in mmengine's root HOOKS registry)."""
from typing import Any, Optional

from mmengine.registry import HOOKS

from .backbone_record import BackboneRecordHook
from .finite_loss import FiniteLossHook, NonFiniteLossError
from .random_state import RandomStateHook
from .reviewkd_hook import ReviewKDHook


def distill_hook_method(hook_type: Any) -> Optional[str]:
    """The method name a detection / segmentation distillation hook adds to a run
    (its class's ``distill_method``: ``'reviewkd-det'`` for ``ReviewKDHook``), None for other
    hooks. Read from the ``HOOKS`` registry, so a hook registered elsewhere joins by declaring
    the attribute."""
    if not isinstance(hook_type, str):
        return getattr(hook_type, 'distill_method', None)
    cls = HOOKS.get(hook_type)
    return getattr(cls, 'distill_method', None) if cls is not None else None


__all__ = ['BackboneRecordHook', 'FiniteLossHook', 'NonFiniteLossError', 'RandomStateHook',
           'ReviewKDHook', 'distill_hook_method']
