"""kd_transfer: does a distillation gain survive transfer to detection and segmentation?

Importing the package (configs do it with ``custom_imports = dict(imports=['kd_transfer'])``):

* applies the patches of :mod:`kd_transfer.patches` to mmengine / torch (atomic checkpoint
  writes, ``weights_only`` checkpoint loading, strict ``Pretrained`` initialisation), each
  checked against the upstream versions it was written for, each switched off by a
  ``KD_PATCH_*=0`` environment variable, and logs one line listing them (docs/patches.md);
* registers kd_transfer's architectures, distillation losses, datasets, metrics and hooks
  into mmengine's *root* registries.  mmdet's and mmseg's registries are children of the root,
  so the same names resolve from classification configs (no default scope) and from
  ``default_scope='mmdet'`` / ``'mmseg'`` configs alike.
"""
from . import patches
from . import datasets, distill, evaluation, hooks, models  # noqa: F401
from . import strict_load  # noqa: F401,E402  (StrictLoadHook, in dumped configs)

patches.apply_all()

__version__ = '0.1.0'
