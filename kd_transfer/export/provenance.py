"""Provenance of an export: method, teacher and student of the source config, and top-1 /
ECE from its work dir's scalar logs."""
import glob
import json
import os.path as osp
from typing import Any, List, Optional, Tuple

from torch import Tensor

from .keys import arch_name_of


def method_of(model_cfg: Optional[dict], kind: str) -> Optional[str]:
    """``'kd'``, ``'reviewkd'``, ``'kd+at'``... from a Distiller config, ``'baseline'`` for a
    plain :class:`KDClassifier` config, None when unknown."""
    if not isinstance(model_cfg, dict):
        return None
    if kind == 'classifier':
        return 'baseline' if model_cfg.get('type') == 'KDClassifier' else None
    losses = model_cfg.get('distill_losses')
    if not isinstance(losses, (list, tuple)) or not losses:
        return None
    types = [loss.get('type') if isinstance(loss, dict) else None for loss in losses]
    if not all(isinstance(typ, str) for typ in types):
        return None
    from kd_transfer.distill.names import methods_name
    return methods_name(types)


def teacher_of(model_cfg: Optional[dict]) -> Optional[str]:
    """Short arch name of a Distiller config's teacher (its type name if not in ARCHS)."""
    if not isinstance(model_cfg, dict) or not isinstance(model_cfg.get('teacher'), dict):
        return None
    teacher = model_cfg['teacher']
    backbone = teacher.get('backbone', teacher)
    from kd_transfer.models.names import arch_short_name
    try:
        name = arch_short_name(backbone)
    except KeyError:  # a field its name needs is missing
        name = None
    if name is None and isinstance(backbone, dict):
        name = backbone.get('type')
    return name


def student_arch_of(model_cfg: Optional[dict], kind: str) -> Optional[str]:
    """Short arch name of the student of a Distiller / KDClassifier config."""
    if not isinstance(model_cfg, dict):
        return None
    student = model_cfg.get('student', {}) if kind == 'distiller' else model_cfg
    return arch_name_of(student.get('backbone') if isinstance(student, dict) else None)


def read_scalars(work_dir: Optional[str], epoch: Optional[int] = None, it: Optional[int] = None
                 ) -> Tuple[Optional[float], Optional[float], Optional[str]]:
    """Top-1 and ECE of a checkpoint's own validation, from ``<work_dir>/*/vis_data/scalars.json``.

    Every launch of a run (the first one, each ``--resume``) writes its own timestamped
    ``scalars.json``. The launches are searched newest first for the validation record
    whose ``step`` is the checkpoint's epoch (else its iteration), so ``best_*_epoch_2.pth``
    gets the value of epoch 2 even when a later launch logged other epochs. When the
    checkpoint's step is known and no launch validated at it, the values are unknown
    (None), never another epoch's. Without ``epoch`` / ``it``: the last validation record of
    the newest launch that has one.

    Args:
        work_dir (str, optional): mmengine work dir.
        epoch (int, optional): The checkpoint's epoch (``meta.epoch``).
        it (int, optional): The checkpoint's iteration (``meta.iter``).

    Returns:
        tuple: ``(top1, ece, scalars_path)``, None where unknown (``scalars_path``: the file
        the values come from, else the newest one).
    """
    if not work_dir or not osp.isdir(work_dir):
        return None, None, None
    # run dirs are timestamps (YYYYmmdd_HHMMSS): sorted newest first
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')), reverse=True)
    if not files:
        return None, None, None
    runs = [(path, _val_records(path)) for path in files]
    chosen, source = None, files[0]
    # an epoch-based checkpoint is validated at its epoch; an iteration-based one (epoch 0)
    # at its iteration (or at step 0 when its metrics are logged by epoch)
    steps = [epoch] if epoch else [s for s in (it, epoch) if s is not None]
    for step in steps:
        for path, records in runs:
            at_step = [r for r in records if r.get('step') == step]
            if at_step:
                chosen, source = at_step[-1], path
                break
        if chosen is not None:
            break
    if chosen is None and not steps:
        source, records = next(((p, r) for p, r in runs if r), (files[0], []))
        chosen = records[-1] if records else None
    if chosen is None:
        return None, None, source
    top1, ece = chosen.get('cls/top1'), chosen.get('cls/ece')
    return (float(top1) if isinstance(top1, (int, float)) else None,
            float(ece) if isinstance(ece, (int, float)) else None, source)


def _val_records(path: str) -> List[dict]:
    """The records of a ``scalars.json`` that hold ``cls/top1`` (unreadable lines skipped)."""
    records = []
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and 'cls/top1' in rec:
                records.append(rec)
    return records


def _to_float(value: Any) -> Optional[float]:
    if isinstance(value, Tensor) and value.numel() == 1:
        return float(value.item())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _plain(value: Any) -> Any:
    """Make a config value weights_only-safe (builtin containers and scalars only)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
