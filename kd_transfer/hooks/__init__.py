"""Training hooks (registered in mmengine's root HOOKS registry)."""
from .reviewkd_hook import ReviewKDHook

__all__ = ['ReviewKDHook']
