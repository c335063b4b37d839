"""Export a (distilled) classification student as an mmdet / mmseg backbone checkpoint.

:func:`export_backbone` reads a checkpoint written by one of several code bases, keeps only
the student backbone, renames it to the keys of the backbone that the transfer configs
build, proves that it loads strictly into that backbone, and writes::

    {'state_dict': {<backbone keys>: Tensor},
     'meta': {'kd_transfer': {'arch', 'backbone', 'method', 'teacher', 'source',
                              'source_format', 'source_sha256', 'top1', 'ece', 'seed',
                              'work_dir', 'normalisation'}}}

``normalisation`` (:mod:`kd_transfer.normalisation`) is the mean / std / channel order the
student was trained with: from the student's ``data_preprocessor`` in a kd_transfer config,
the code base's own statistics for torchvision / mdistiller / RepDistiller sources, or given
explicitly (``mean`` / ``std``); the transfer models must normalise the same way.

Source layouts (``src_format``; ``'auto'`` tells them apart):

* ``kd_transfer``: an mmengine checkpoint of a :class:`~kd_transfer.models.Distiller`
  (``state_dict`` keys ``student.backbone.*``, ``teacher.*``, ``distill_losses.<i>.*``) or of a
  plain :class:`~kd_transfer.models.KDClassifier` (``backbone.*``); the architecture, the
  method and the teacher are read from the config text stored in ``meta.cfg``, top-1 / ECE
  from the work dir's ``*/vis_data/scalars.json``.
* ``torchvision``: a bare ``state_dict`` (possibly under ``'state_dict'`` / ``'model'`` and
  with DataParallel's ``module.`` prefix) of an ImageNet ResNet / MobileNetV2.
* ``mdistiller``: ``{'model': <Distiller state_dict>}`` with ``module.student.*`` /
  ``module.teacher.*`` keys, or its ``student_*`` files ``{'model': <student state_dict>}``.
* ``repdistiller``: ``{'model': <student state_dict>, 'epoch', 'best_acc' | 'accuracy'}``.

The ResNets (``TVResNet``) are exported with torchvision / mmdet / mmseg names and verified
against mmdet's ``ResNet(depth, style='pytorch')``, which mmseg's ``ResNet`` shares; every
other architecture is used as a backbone directly (``type='CifarResNet'``, ...) and is
verified against itself built with ``out_indices``.

Nothing is written unless the verification passes; the output is written atomically.

The package, by job: :mod:`.formats` (source layouts), :mod:`.sources` (reading a source and
extracting the student), :mod:`.keys` (architectures and their keys), :mod:`.verify` (strict
loading, finite values), :mod:`.provenance` (method, teacher, top-1 / ECE) and
:mod:`.pipeline` (:func:`export_backbone`, writing, summary). The config-text parser lives in
:mod:`kd_transfer.config_text`.
"""
from ..config_text import parse_config_text
from .formats import IMAGENET_TYPES, SOURCE_FORMATS, SOURCE_LAYOUTS, ExportError
from .keys import arch_name_of, arch_signature, build_arch_model, head_prefix, infer_arch
from .pipeline import export_backbone, format_summary, write_atomic
from .provenance import method_of, read_scalars, student_arch_of, teacher_of
from .sources import Extracted, extract_student, load_source, sha256_of
from .verify import (check_finite, check_strict, fill_num_batches_tracked,
                     refuse_source_as_output, target_backbone)

__all__ = ['SOURCE_FORMATS', 'SOURCE_LAYOUTS', 'ExportError', 'export_backbone',
           'extract_student', 'load_source', 'parse_config_text', 'read_scalars', 'format_summary',
           'arch_name_of', 'write_atomic', 'IMAGENET_TYPES', 'arch_signature', 'build_arch_model',
           'head_prefix', 'infer_arch', 'method_of', 'student_arch_of', 'teacher_of', 'Extracted',
           'sha256_of', 'check_finite', 'check_strict', 'fill_num_batches_tracked',
           'refuse_source_as_output', 'target_backbone']
