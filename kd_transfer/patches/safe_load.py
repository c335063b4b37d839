"""Safe checkpoint loading (implementation: :mod:`kd_transfer.safe_load`), as two patches.

* ``safe_globals``: torch's weights-only unpickler (the default of ``torch.load`` since 2.6)
  is told about the few non-tensor types mmengine's Runner pickles (``HistoryBuffer``, numpy
  arrays and dtypes), so ``--resume`` / ``load_from`` work with ``weights_only=True``
  anywhere in the process (also mmengine's http / other loaders). No-op on torch < 2.4.
* ``safe_checkpoint_loader``: mmengine's local-file loader is
  :func:`kd_transfer.safe_load.load_checkpoint_file` (restricted unpickling on every torch,
  errors that name the file), and ``CheckpointLoader.load_checkpoint`` drops the
  ``meta['config']`` text that mmengine's resume would execute.
"""
from .base import Patch


def _apply_globals() -> None:
    import torch

    from ..safe_load import SAFE_GLOBALS
    if hasattr(torch.serialization, 'add_safe_globals'):
        torch.serialization.add_safe_globals(SAFE_GLOBALS)


def _apply_loader() -> None:
    from mmengine.runner.checkpoint import CheckpointLoader

    from ..safe_load import _mmengine_local_loader, drop_executable_meta

    CheckpointLoader.register_scheme(prefixes='', loader=_mmengine_local_loader, force=True)
    load_any = CheckpointLoader.load_checkpoint.__func__  # every scheme (local, http, ...)

    def load_checkpoint(cls, filename, map_location=None, logger='current'):
        return drop_executable_meta(load_any(cls, filename, map_location, logger), filename)

    load_checkpoint.__doc__ = ("mmengine's CheckpointLoader.load_checkpoint without "
                               "meta['config'] (kd_transfer.patches).")
    CheckpointLoader.load_checkpoint = classmethod(load_checkpoint)


GLOBALS = Patch(
    name='safe_globals', env='KD_PATCH_SAFE_GLOBALS',
    what="torch.serialization.add_safe_globals(mmengine HistoryBuffer, numpy arrays / dtypes)",
    requires={'torch': ('2.1', '2.15')}, apply_fn=_apply_globals)

LOADER = Patch(
    name='safe_checkpoint_loader', env='KD_PATCH_SAFE_LOADER',
    what="mmengine CheckpointLoader: local files through kd_transfer's restricted loader, "
         "meta['config'] dropped",
    requires={'mmengine': ('0.10.0', '0.11'), 'torch': ('2.1', '2.15')},
    apply_fn=_apply_loader)
