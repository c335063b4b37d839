"""Training hooks (registered in mmengine's root HOOKS registry)."""
from .backbone_record import BackboneRecordHook
from .reviewkd_hook import ReviewKDHook

__all__ = ['BackboneRecordHook', 'ReviewKDHook']
