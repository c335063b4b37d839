"""mmengine's local checkpoint writes made atomic (implementation: :mod:`kd_transfer.fileio`).

mmengine 0.10.x saves a checkpoint with ``LocalBackend.put`` and the ``last_checkpoint``
pointer with the builtin ``open(path, 'w')`` inside ``mmengine.hooks.checkpoint_hook``; a job
killed during either write leaves a truncated file. This patch routes ``put``, ``put_text``
and that module's ``open`` through :func:`kd_transfer.fileio.atomic_write`.
"""
from .base import Patch


def _apply() -> None:
    from mmengine.fileio.backends.local_backend import LocalBackend
    from mmengine.hooks import checkpoint_hook

    from ..fileio import atomic_open, atomic_write

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(filepath, obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write(filepath, obj, encoding=encoding)

    put.__doc__ = 'Atomic replacement of mmengine LocalBackend.put (kd_transfer.patches).'
    put_text.__doc__ = 'Atomic replacement of LocalBackend.put_text (kd_transfer.patches).'
    LocalBackend.put = put
    LocalBackend.put_text = put_text
    # CheckpointHook writes ``last_checkpoint`` with ``open(save_file, 'w')``; a module-level
    # ``open`` shadows the builtin for that module only.
    checkpoint_hook.open = atomic_open


PATCH = Patch(
    name='atomic_writes', env='KD_PATCH_ATOMIC_WRITES',
    what="mmengine LocalBackend.put / put_text and CheckpointHook's open(..., 'w') write "
         'through a temporary file + os.replace',
    requires={'mmengine': ('0.10.0', '0.11')}, apply_fn=_apply)
