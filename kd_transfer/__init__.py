"""kd_transfer: does a distillation gain survive transfer to detection and segmentation?

Importing the package (configs do it with ``custom_imports = dict(imports=['kd_transfer'])``):

* makes mmengine checkpoints loadable with ``weights_only=True`` (:mod:`kd_transfer.safe_load`)
  and their writes atomic (:mod:`kd_transfer.fileio`);
* registers kd_transfer's architectures, distillation losses, datasets, metrics and hooks
  into mmengine's *root* registries.  mmdet's and mmseg's registries are children of the root,
  so the same names resolve from classification configs (no default scope) and from
  ``default_scope='mmdet'`` / ``'mmseg'`` configs alike.
"""
from . import fileio, safe_load  # noqa: F401  (first: atomic saves, safe loads)
from . import datasets, distill, evaluation, hooks, models  # noqa: F401
from . import guards  # noqa: F401,E402  (FiniteLossHook, strict Pretrained loading)
from . import strict_load  # noqa: F401,E402  (StrictLoadHook, in dumped configs)

__version__ = '0.1.0'
