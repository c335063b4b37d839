"""The export itself (:func:`export_backbone`), its atomic writing and its summary."""
import io
import os.path as osp
import shlex
from collections import OrderedDict
from typing import Any, Dict, Optional, Sequence

import torch

from ..config_text import parse_config_text
from ..fileio import atomic_write
from .formats import ExportError
from .keys import _archs, _formats_for, arch_signature, infer_arch
from .provenance import _plain, _to_float, method_of, read_scalars, student_arch_of, teacher_of
from .sources import Extracted, _few, extract_student, load_source, sha256_of
from .verify import (check_finite, check_strict, fill_num_batches_tracked,
                     refuse_source_as_output, target_backbone)


def export_backbone(src: str, out: str, src_format: str = 'auto', arch: Optional[str] = None,
                    force: bool = False, keep_head: bool = False, method: Optional[str] = None,
                    teacher: Optional[str] = None, mean: Optional[Sequence[float]] = None,
                    std: Optional[Sequence[float]] = None,
                    channel_order: str = 'RGB') -> Dict[str, Any]:
    """Export the student backbone of ``src`` to ``out``.

    Args:
        src (str): Source checkpoint (see the module docstring for the layouts).
        out (str): Output file; refused if it exists unless ``force``.
        src_format (str): ``'auto'`` or one of :data:`SOURCE_FORMATS`.
        arch (str, optional): Architecture short name; default: from the kd_transfer config,
            else the one architecture whose keys and shapes match.
        force (bool): Overwrite ``out``.
        keep_head (bool): Keep the classifier (verified against the arch in logits mode).
        method (str, optional): Provenance override (for sources without a kd_transfer config).
        teacher (str, optional): Provenance override.
        mean, std (Sequence[float], optional): The normalisation the student was trained with
            (0-255 scale, in ``channel_order``), overriding the one read from the source.
        channel_order (str): ``'RGB'`` or ``'BGR'``, with ``mean`` / ``std``.

    Returns:
        dict: Summary (source, format, arch, target, counts, dropped groups, provenance).

    Raises:
        ExportError: Any problem; nothing is written then.
    """
    src, out = osp.abspath(osp.expanduser(src)), osp.abspath(osp.expanduser(out))
    refuse_source_as_output(src, out)
    if osp.exists(out) and not force:
        raise ExportError(f'output {out!r} exists; pass --force to overwrite it')
    if osp.isdir(out):
        raise ExportError(f'output {out!r} is a directory; expected a file path')
    ckpt = load_source(src)
    ext = extract_student(ckpt, src, src_format)
    if not ext.state:
        raise ExportError(f'{src!r}: the student state_dict is empty')

    from ..reexport import carry_over, previous_normalisation, previous_provenance
    previous = previous_provenance(ext.ckpt_meta)  # an exported backbone exported again
    norm_given = mean is not None or std is not None
    mean, std, channel_order = previous_normalisation(previous, mean, std, channel_order)

    model_cfg = None
    if ext.fmt == 'kd_transfer':
        cfg_text = ext.ckpt_meta.get('cfg')
        if isinstance(cfg_text, str):
            model_cfg = parse_config_text(cfg_text).get('model')

    # --- the architecture
    archs = _archs()
    if arch is not None and arch not in archs:
        raise ExportError(f'--arch {arch!r} is not a kd_transfer architecture; choose one of '
                          f'{sorted(archs)}')
    cfg_arch = student_arch_of(model_cfg, ext.kind)
    if arch is None and cfg_arch is not None:
        arch = cfg_arch
    if arch is None:
        matches = infer_arch(ext)
        if not matches:
            raise ExportError(
                f'{src!r}: unknown layout: the weights match no kd_transfer architecture in '
                f'any known source format (keys: {_few(list(ext.state))}); pass --arch (and '
                f'--src-format) to get the exact list of mismatching keys')
        if len({a for a, _ in matches}) > 1:
            raise ExportError(f'{src!r}: the weights match several architectures '
                              f'{sorted({a for a, _ in matches})}; pass --arch')
        arch, fmt = matches[0]
    else:
        fmt = _formats_for(arch, ext)[0]
    ext.fmt = fmt if ext.fmt == 'bare' else ext.fmt
    arch_type = archs[arch]['type']

    # --- split off the head, verify (every supported layout has kd_transfer's names)
    state = ext.state
    _, head = arch_signature(arch)
    head_keys = [k for k in state if k.startswith(head)]
    dropped = OrderedDict(ext.dropped)
    num_classes = None
    if keep_head:
        if not head_keys:
            raise ExportError(f'--keep-head: {src!r} has no classifier ({head}*) for {arch}')
        num_classes = int(state[sorted(head_keys)[-1]].shape[0])  # weight or bias: K first
    else:
        state = OrderedDict((k, v) for k, v in state.items() if not k.startswith(head))
        if head_keys:
            dropped['head (' + head.rstrip('.') + ')'] = len(head_keys)
    model, backbone_cfg, target = target_backbone(arch, keep_head, num_classes)
    state = fill_num_batches_tracked(state, model)
    check_strict(state, model, None if keep_head else head, f'{target} [{arch}]')
    check_finite(state, src)
    param_names = {k for k, _ in model.named_parameters()}
    num_params = sum(v.numel() for k, v in state.items() if k in param_names)

    # --- provenance
    work_dir = None
    top1 = ece = None
    scalars = None
    seed = ext.ckpt_meta.get('seed')
    if ext.fmt == 'kd_transfer':
        candidates = [osp.dirname(src)]
        cfg_wd = parse_config_text(ext.ckpt_meta.get('cfg', '') or '').get('work_dir')
        if isinstance(cfg_wd, str):
            candidates.append(cfg_wd)
        for cand in candidates:
            top1, ece, scalars = read_scalars(cand, ext.ckpt_meta.get('epoch'),
                                              ext.ckpt_meta.get('iter'))
            if scalars:
                work_dir = osp.abspath(cand)
                break
        if work_dir is None:
            work_dir = osp.dirname(src)
    elif ext.fmt == 'repdistiller':
        top1 = _to_float(ext.extras.get('accuracy', ext.extras.get('best_acc')))
    provenance = OrderedDict(
        arch=arch,
        backbone=_plain(backbone_cfg),
        method=method if method is not None else method_of(model_cfg, ext.kind),
        teacher=teacher if teacher is not None else teacher_of(model_cfg),
        source=src,
        source_format=ext.fmt,
        source_sha256=sha256_of(src),
        top1=top1,
        ece=ece,
        seed=int(seed) if isinstance(seed, int) and not isinstance(seed, bool) else None,
        work_dir=work_dir,
        normalisation=_normalisation_of(src, ext, model_cfg, arch_type, mean, std,
                                        channel_order),
    )
    try:
        carry_over(provenance, previous, src, method, teacher, norm_given)
    except ValueError as err:
        raise ExportError(str(err)) from None
    payload = {'state_dict': OrderedDict((k, v.detach().cpu().clone().contiguous())
                                         for k, v in state.items()),
               'meta': {'kd_transfer': dict(provenance)}}
    write_atomic(payload, out, force)
    return OrderedDict(source=src, out=out, source_format=ext.fmt, kind=ext.kind, arch=arch,
                       target=target, num_tensors=len(state), num_params=num_params,
                       dropped=dict(dropped), scalars=scalars, provenance=dict(provenance))


def _normalisation_of(src: str, ext: 'Extracted', model_cfg: Optional[dict], arch_type: str,
                      mean: Optional[Sequence[float]], std: Optional[Sequence[float]],
                      channel_order: str) -> Dict[str, Any]:
    """The normalisation record of the student (see :mod:`kd_transfer.normalisation`)."""
    from .. import normalisation as norm
    try:
        if (mean is None) != (std is None):
            raise ValueError('give both --mean and --std (3 values each, 0-255 scale)')
        if mean is not None:
            return norm.record(mean, std, channel_order, 'given to the exporter (--mean/--std)')
        if ext.fmt == 'kd_transfer' and isinstance(model_cfg, dict):
            student = model_cfg.get('student') if ext.kind == 'distiller' else model_cfg
            where = ('model.student.data_preprocessor' if ext.kind == 'distiller'
                     else 'model.data_preprocessor') + ' of the config in the checkpoint'
            found = norm.of_preprocessor_cfg(
                student.get('data_preprocessor') if isinstance(student, dict) else {}, where,
                model=student if isinstance(student, dict) else None)
        else:
            from ..models import ARCHS, IMAGENET_ARCHS  # trained on ImageNet, whatever layout
            imagenet = arch_type in {ARCHS[a]['type'] for a in IMAGENET_ARCHS}
            found = norm.of_layout(ext.fmt, imagenet)
    except ValueError as err:
        raise ExportError(f'{src!r}: {err}') from None
    if found is None:
        raise ExportError(f'{src!r}: cannot tell the normalisation the student was trained with '
                          f'(source format {ext.fmt}, no usable data_preprocessor); pass --mean '
                          'and --std (0-255 scale) and --channel-order')
    return found


def write_atomic(obj: Any, out: str, force: bool = False) -> None:
    """``torch.save(obj)`` to ``out`` atomically (:func:`kd_transfer.fileio.atomic_write`).

    Raises:
        ExportError: ``out`` exists and not ``force``, or its directory cannot be created.
    """
    if osp.exists(out) and not force:
        raise ExportError(f'output {out!r} exists; pass --force to overwrite it')
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    try:
        atomic_write(out, buffer.getvalue())
    except OSError as err:
        raise ExportError(f'cannot write {out!r}: {err}') from None


def format_summary(summary: Dict[str, Any]) -> str:
    """A one-screen, human-readable report of :func:`export_backbone`'s result."""
    prov = summary['provenance']
    dropped = ', '.join(f'{k}: {v}' for k, v in summary['dropped'].items()) or 'nothing'

    def fmt(value: Any) -> str:
        if value is None:
            return 'unknown'
        return f'{value:.4g}' if isinstance(value, float) else str(value)

    lines = [
        f'source        {summary["source"]}',
        f'format        {summary["source_format"]} ({summary["kind"]})',
        f'arch          {summary["arch"]} -> verified strictly against {summary["target"]}',
        f'backbone cfg  {prov["backbone"]}',
        f'kept          {summary["num_tensors"]} tensors, {summary["num_params"]:,} parameters',
        f'dropped       {dropped}',
        f'method        {fmt(prov["method"])}    teacher {fmt(prov["teacher"])}',
        f'top1          {fmt(prov["top1"])}    ece {fmt(prov["ece"])}    seed {fmt(prov["seed"])}',
        f'work dir      {fmt(prov["work_dir"])}' + (f'  (scalars: {summary["scalars"]})'
                                                   if summary.get('scalars') else ''),
        f'normalisation {_describe_norm(prov.get("normalisation"))}',
        f'sha256        {prov["source_sha256"]}',
        f'written       {summary["out"]}',
        'use it with   --cfg-options ' +
        shlex.quote(f'model.backbone.init_cfg.checkpoint={summary["out"]}'),
    ]
    return '\n'.join(lines)


def _describe_norm(value: Any) -> str:
    from ..normalisation import describe
    return describe(value) if isinstance(value, dict) else 'unknown'
