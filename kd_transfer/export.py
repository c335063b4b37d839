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
"""
import ast
import glob
import hashlib
import io
import json
import os.path as osp
import shlex
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from .fileio import atomic_write

SOURCE_FORMATS = ('kd_transfer', 'torchvision', 'mdistiller', 'repdistiller')

#: Architecture types that are ImageNet models with torchvision parameter names.
IMAGENET_TYPES = ('TVResNet', 'TVMobileNetV2')

#: Source formats whose parameter names equal kd_transfer's, per architecture type.
#: kd_transfer's architectures reproduce the upstream layouts (CIFAR models: RepDistiller's
#: ``models/*.py``, which mdistiller copied; ImageNet models: torchvision's, which mdistiller's
#: ImageNet ResNets use too), so no key is renamed; the comments give the upstream module names,
#: checked against our architectures when this table was written (tests/test_export spells
#: RepDistiller's resnet8x4 keys out by hand). An architecture whose upstream names differ needs
#: a rename step before it is listed here.
SOURCE_LAYOUTS: Dict[str, Tuple[str, ...]] = {
    # conv1 bn1 layer{1,2,3}.<i>.{conv,bn}{1,2} layer<k>.0.downsample.{0,1} fc
    'CifarResNet': ('repdistiller', 'mdistiller'),
    # conv1 block{1,2,3}.layer.<i>.{bn1,conv1,bn2,conv2,convShortcut} bn1 fc
    'WideResNet': ('repdistiller', 'mdistiller'),
    # conv1 bn1 layer{1,2,3}.<i>.{conv,bn}{1,2,3} linear
    'ShuffleNetV1': ('repdistiller', 'mdistiller'),
    # conv1 bn1 layer{1,2,3}.<i>.{conv,bn}{1..5} conv2 bn2 linear
    'ShuffleNetV2': ('repdistiller', 'mdistiller'),
    # conv1.{0,1} blocks.<s>.<i>.conv.{0..7} conv2.{0,1} classifier.0
    'CifarMobileNetV2': ('repdistiller', 'mdistiller'),
    # conv1 bn1 layer{1..4}.<i>.{conv,bn}{1,2[,3]} layer<k>.0.downsample.{0,1} fc
    'TVResNet': ('torchvision', 'mdistiller'),
    # features.<i>... classifier.1
    'TVMobileNetV2': ('torchvision', ),
    # model.<i>.<j> fc (the official ReviewKD code's ImageNet MobileNet = mdistiller's V1)
    'MobileNetV1': ('mdistiller', ),
}


class ExportError(ValueError):
    """The source cannot be exported (unknown layout, wrong architecture, bad file...)."""


# --------------------------------------------------------------------------- reading
def load_source(path: str) -> Any:
    """Load ``path`` with ``weights_only=True``.

    Args:
        path (str): The checkpoint to read.

    Returns:
        The unpickled object.

    Raises:
        ExportError: The file is missing, truncated, not a torch checkpoint, or pickles
            objects outside the weights-only allow-list.
    """
    import kd_transfer  # noqa: F401  (allow-lists mmengine's checkpoint types)
    if not osp.isfile(path):
        what = 'is a directory' if osp.isdir(path) else 'does not exist'
        raise ExportError(f'source checkpoint {path!r} {what} (expected a file '
                          'written by torch.save)')
    try:
        from .safe_load import safe_torch_load  # weights-only on every supported torch
        return safe_torch_load(path, map_location='cpu')
    except Exception as err:  # noqa: BLE001  (torch raises many types for a bad file)
        from .safe_load import _reason  # torch's refusal without its advice to load unsafely
        first = _reason(err) if str(err).strip() else type(err).__name__
        raise ExportError(f'cannot read source checkpoint {path!r} with weights_only=True '
                          f'(truncated, corrupt, not a torch checkpoint, or it pickles '
                          f'arbitrary objects): {type(err).__name__}: {first}') from None


def sha256_of(path: str) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _is_state_dict(obj: Any) -> bool:
    return (isinstance(obj, dict) and len(obj) > 0
            and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()))


def _strip(state: Dict[str, Tensor], prefix: str) -> Dict[str, Tensor]:
    return OrderedDict((k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))


class Extracted:
    """The student weights found in a source checkpoint, with what was dropped.

    Attributes:
        fmt (str): Source format (one of :data:`SOURCE_FORMATS`), or ``'bare'`` before the
            architecture has told torchvision and CIFAR code bases apart.
        kind (str): ``'distiller'``, ``'classifier'`` or ``'state_dict'``.
        state (dict[str, Tensor]): Student weights with the source's own names.
        dropped (dict[str, int]): Dropped tensor groups (``teacher``, connectors...) -> count.
        ckpt_meta (dict): The source's ``meta`` (mmengine) or ``{}``.
        extras (dict): Scalar fields beside the weights (``epoch``, ``best_acc``...).
        wrapper (str | None): Key the state dict was found under (``'state_dict'``,
            ``'model'``) or None for a top-level state dict.
    """

    def __init__(self, fmt: str, kind: str, state: Dict[str, Tensor],
                 dropped: Dict[str, int], ckpt_meta: dict, extras: dict,
                 wrapper: Optional[str] = None):
        self.fmt, self.kind, self.state = fmt, kind, state
        self.dropped, self.ckpt_meta, self.extras = dropped, ckpt_meta, extras
        self.wrapper = wrapper


def extract_student(ckpt: Any, path: str, src_format: str = 'auto') -> Extracted:
    """Find the student weights in a loaded checkpoint.

    Args:
        ckpt: What :func:`load_source` returned.
        path (str): The file it came from (for error messages).
        src_format (str): ``'auto'`` or one of :data:`SOURCE_FORMATS`.

    Returns:
        Extracted: The student weights (source names) and what was dropped.

    Raises:
        ExportError: The layout is not recognised or contradicts ``src_format``.
    """
    if src_format != 'auto' and src_format not in SOURCE_FORMATS:
        raise ExportError(f'--src-format must be auto or one of {SOURCE_FORMATS}, '
                          f'got {src_format!r}')
    if not isinstance(ckpt, dict) or not ckpt:
        raise ExportError(f'{path!r}: expected a dict (a state_dict or a checkpoint holding one), '
                          f'got {type(ckpt).__name__}')
    extras = {k: v for k, v in ckpt.items()
              if k in ('epoch', 'best_acc', 'accuracy') and isinstance(v, (int, float, Tensor))}
    ckpt_meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}

    if _is_state_dict(ckpt):
        wrapper, state = None, ckpt
    else:
        wrapper = next((k for k in ('state_dict', 'model') if _is_state_dict(ckpt.get(k))), None)
        if wrapper is None:
            raise ExportError(
                f'{path!r}: unknown checkpoint layout: no state_dict found (looked at the top '
                f"level, 'state_dict' and 'model'); top-level keys: {_few(list(ckpt))}")
        state = ckpt[wrapper]
    keys = list(state)

    def has(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in keys)

    def want(fmt: str) -> None:
        if src_format not in ('auto', fmt):
            raise ExportError(f'{path!r} looks like a {fmt} checkpoint, not {src_format} '
                              f'(keys: {_few(keys)})')

    # kd_transfer: mmengine checkpoint of a Distiller or a KDClassifier.
    kd_ok = src_format in ('auto', 'kd_transfer')
    if wrapper == 'state_dict' and has('student.backbone.') and kd_ok:
        student = _strip(state, 'student.backbone.')
        rest = [k for k in keys if not k.startswith('student.backbone.')]
        return Extracted('kd_transfer', 'distiller', student, _dropped(rest), ckpt_meta, extras)
    if wrapper == 'state_dict' and has('backbone.') and not has('student.') and kd_ok:
        student = _strip(state, 'backbone.')
        rest = [k for k in keys if not k.startswith('backbone.')]
        return Extracted('kd_transfer', 'classifier', student, _dropped(rest), ckpt_meta, extras)
    if src_format == 'kd_transfer':
        raise ExportError(f"{path!r} is not a kd_transfer checkpoint: expected 'state_dict' with "
                          f"'student.backbone.*' (Distiller) or 'backbone.*' (KDClassifier) keys, "
                          f'got {_few(keys)}')

    # mdistiller: its Distiller state_dict, wrapped by DataParallel or not.
    for prefix in ('module.student.', 'student.'):
        if wrapper == 'model' and has(prefix):
            want('mdistiller')
            student = _strip(state, prefix)
            rest = [k[len('module.'):] if k.startswith('module.') else k
                    for k in keys if not k.startswith(prefix)]
            return Extracted('mdistiller', 'distiller', student, _dropped(rest), ckpt_meta, extras)
    if src_format == 'mdistiller' and wrapper != 'model':
        raise ExportError(f"{path!r} is not an mdistiller checkpoint: expected {{'model': ...}}, "
                          f'got top-level keys {_few(list(ckpt))}')
    if src_format == 'repdistiller' and wrapper != 'model':
        raise ExportError(f"{path!r} is not a RepDistiller checkpoint: expected {{'model': ..., "
                          f"'epoch': ...}}, got top-level keys {_few(list(ckpt))}")

    # A bare state dict (torchvision, RepDistiller, mdistiller's student files).
    if all(k.startswith('module.') for k in keys):
        state = _strip(state, 'module.')
    fmt = src_format if src_format != 'auto' else 'bare'
    return Extracted(fmt, 'state_dict', OrderedDict(state), {}, ckpt_meta, extras, wrapper)


def _dropped(keys: Sequence[str]) -> Dict[str, int]:
    """Group dropped keys: ``teacher``, ``distill_losses.0``... (connectors keep their index)."""
    counts: Dict[str, int] = OrderedDict()
    for key in keys:
        parts = key.split('.')
        depth = 2 if parts[0] in ('distill_losses', 'student') and len(parts) > 2 else 1
        group = '.'.join(parts[:depth])
        counts[group] = counts.get(group, 0) + 1
    return counts


def _few(items: Sequence[Any], n: int = 5) -> str:
    items = [str(i) for i in items]
    more = f' ... (+{len(items) - n} more)' if len(items) > n else ''
    return '[' + ', '.join(items[:n]) + more + ']'


# ------------------------------------------------------------------ config text (safe)
def _literal(node: ast.AST) -> Any:
    """Evaluate a config expression made of literals and ``dict(...)`` calls only."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        values = [_literal(n) for n in node.elts]
        return values if isinstance(node, ast.List) else tuple(values)
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == 'dict' and not node.args):
        return {kw.arg: _literal(kw.value) for kw in node.keywords if kw.arg is not None}
    raise ValueError(f'not a literal: {ast.dump(node)[:60]}')


def parse_config_text(text: str) -> Dict[str, Any]:
    """Read the top-level assignments of a config text without executing it.

    A checkpoint's ``meta.cfg`` is Python source; running it would defeat ``weights_only``.
    Only literal values and ``dict(...)`` calls are evaluated; other assignments are skipped.

    Args:
        text (str): Config text (mmengine's ``Config.pretty_text``).

    Returns:
        dict: Variable name -> value for every assignment that is a pure literal.
    """
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return {}
    out: Dict[str, Any] = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            try:
                out[node.targets[0].id] = _literal(node.value)
            except (ValueError, TypeError):
                continue
    return out


# ------------------------------------------------------------------- architectures
def _archs() -> Dict[str, dict]:
    from kd_transfer.models import ARCHS
    return ARCHS


def arch_name_of(cfg: Any) -> Optional[str]:
    """The ARCHS short name of an architecture config (:mod:`kd_transfer.models.names`)."""
    from kd_transfer.models.names import arch_name_of as name_of
    return name_of(cfg)


def build_arch_model(arch: str, num_classes: Optional[int] = None,
                     out_indices: Any = 'all', device: Optional[str] = None) -> nn.Module:
    """Build a registered architecture by short name.

    Args:
        arch (str): Short name, a key of ``kd_transfer.models.ARCHS``.
        num_classes (int, optional): Overrides the table's number of classes.
        out_indices: ``'all'`` (backbone mode, every stage), ``None`` (logits mode) or indices.
        device (str, optional): ``'meta'`` builds without allocating memory.

    Returns:
        nn.Module: The architecture.
    """
    from mmengine.registry import MODELS
    cfg = dict(_archs()[arch])
    if num_classes is not None:
        cfg['num_classes'] = num_classes
    if out_indices == 'all':
        cfg['out_indices'] = None
        probe = _build(MODELS, cfg, 'meta')
        cfg['out_indices'] = tuple(range(len(probe.stage_channels) - 1))
    else:
        cfg['out_indices'] = out_indices
    return _build(MODELS, cfg, device)


def _build(registry, cfg: dict, device: Optional[str]) -> nn.Module:
    if device is None:
        return registry.build(dict(cfg))
    try:
        with torch.device(device):
            return registry.build(dict(cfg))
    except Exception:  # noqa: BLE001  (an architecture whose init cannot run on 'meta')
        return registry.build(dict(cfg))


def head_prefix(model: nn.Module) -> str:
    """Dotted prefix (``'fc.'``, ``'classifier.'``) of the module ``model.classifier`` is."""
    head = model.classifier
    for name, module in model.named_modules():
        if module is head and name:
            return name + '.'
    raise ExportError(f'{type(model).__name__}.classifier is not a submodule')


_SHAPES_CACHE: Dict[str, Tuple[Dict[str, Tuple[int, ...]], str]] = {}


def arch_signature(arch: str) -> Tuple[Dict[str, Tuple[int, ...]], str]:
    """State-dict shapes of an architecture without its head, and the head prefix."""
    if arch not in _SHAPES_CACHE:
        model = build_arch_model(arch, out_indices=None, device='meta')
        head = head_prefix(model)
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()
                  if not k.startswith(head)}
        _SHAPES_CACHE[arch] = (shapes, head)
    return _SHAPES_CACHE[arch]


def _formats_for(arch: str, ext: 'Extracted') -> List[str]:
    """The source format of ``ext`` if ``arch`` is its architecture.

    A bare state dict of an ImageNet architecture is torchvision's; of a CIFAR one, an
    mdistiller ``student_*`` file (``{'model': ...}`` and nothing else) or RepDistiller's
    (``{'model': ..., 'epoch': ..., 'best_acc' | 'accuracy': ...}``); the two share one layout.
    """
    if ext.fmt != 'bare':
        return [ext.fmt]
    if _archs()[arch]['type'] in IMAGENET_TYPES:
        return ['torchvision']
    from .models import IMAGENET_ARCHS
    if arch in IMAGENET_ARCHS:  # MobileNet V1: the official ReviewKD / mdistiller ImageNet file
        return ['mdistiller']
    if ext.wrapper == 'model' and not ext.extras:
        return ['mdistiller']
    return ['repdistiller']


def infer_arch(ext: Extracted) -> List[Tuple[str, str]]:
    """Architectures (and formats) whose keys and shapes equal the student's, head excluded.

    Returns:
        list[tuple[str, str]]: ``(arch, fmt)`` pairs that match exactly.
    """
    matches = []
    for arch in _archs():
        for fmt in _formats_for(arch, ext):
            if fmt not in SOURCE_LAYOUTS.get(_archs()[arch]['type'], ()) and fmt != 'kd_transfer':
                continue
            shapes, head = arch_signature(arch)
            state = ext.state
            body = {k: tuple(v.shape) for k, v in state.items() if not k.startswith(head)}
            if _without_bn_counters(body) == _without_bn_counters(shapes):
                matches.append((arch, fmt))
    return matches


# --------------------------------------------------------------------- verification
def target_backbone(arch: str, keep_head: bool = False,
                    num_classes: Optional[int] = None) -> Tuple[nn.Module, dict, str]:
    """The module the exported weights must load into, its config and a description.

    ResNets -> mmdet's ``ResNet(depth, style='pytorch')`` (mmseg's ``ResNet`` has the same
    keys); other architectures -> themselves in backbone mode (every stage out). With
    ``keep_head`` the architecture itself in logits mode, with ``num_classes`` classes.
    """
    arch_cfg = _archs()[arch]
    if keep_head:
        model = build_arch_model(arch, num_classes=num_classes, out_indices=None)
        cfg = dict(arch_cfg, num_classes=num_classes or arch_cfg.get('num_classes'))
        return model, cfg, f'{arch_cfg["type"]} (with head)'
    if arch_cfg['type'] == 'TVResNet':
        import mmdet.models  # noqa: F401  (registers mmdet's ResNet)
        from mmdet.registry import MODELS as MMDET_MODELS
        cfg = dict(type='ResNet', depth=int(arch_cfg['depth']), out_indices=(0, 1, 2, 3),
                   style='pytorch')
        # _scope_: build in mmdet's registry whatever default scope another run left behind
        return MMDET_MODELS.build(dict(cfg, _scope_='mmdet')), cfg, 'mmdet ResNet (style=pytorch)'
    model = build_arch_model(arch, out_indices='all')
    cfg = {k: v for k, v in arch_cfg.items() if k not in ('init_cfg',)}
    cfg['out_indices'] = tuple(model.out_indices)
    return model, cfg, f'{arch_cfg["type"]} (backbone mode)'


def check_strict(state: Dict[str, Tensor], model: nn.Module, ignore_prefix: Optional[str],
                 what: str) -> None:
    """Raise unless ``state`` has exactly the keys and shapes of ``model`` (minus a prefix).

    Raises:
        ExportError: listing the first missing / unexpected / mis-shaped keys and their counts.
    """
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()
           if not (ignore_prefix and k.startswith(ignore_prefix))}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mis_shaped = sorted(k for k in set(own) & set(state) if tuple(state[k].shape) != own[k])
    if missing or unexpected or mis_shaped:
        raise ExportError(
            f'the student weights do not load strictly into {what}: '
            f'{len(missing)} missing {_few(missing)}; {len(unexpected)} unexpected '
            f'{_few(unexpected)}; {len(mis_shaped)} mis-shaped '
            f'{_few([f"{k}: {tuple(state[k].shape)} vs {own[k]}" for k in mis_shaped])}')
    model.load_state_dict(
        {**{k: v for k, v in model.state_dict().items() if k not in own}, **state}, strict=True)


def _without_bn_counters(shapes: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in shapes.items() if not k.endswith('num_batches_tracked')}


def fill_num_batches_tracked(state: Dict[str, Tensor], model: nn.Module) -> Dict[str, Tensor]:
    """Add the BatchNorm ``num_batches_tracked`` counters an older state dict lacks.

    torchvision weight files written before the counter existed have ``running_mean`` /
    ``running_var`` but no ``num_batches_tracked``; torch loads them strictly and sets the
    counter to 0 (``_BatchNorm._load_from_state_dict``). The same is done here, for the
    BatchNorm layers of ``model`` whose running statistics ``state`` holds.
    """
    out = OrderedDict(state)
    for key, value in model.state_dict().items():
        prefix = key[:-len('num_batches_tracked')]
        if key.endswith('num_batches_tracked') and key not in out and \
                f'{prefix}running_mean' in out:
            out[key] = torch.zeros_like(value, device='cpu')
    return out


def check_finite(state: Dict[str, Tensor], src: str) -> None:
    """Refuse weights holding NaN / Inf (a diverged run, a corrupted file).

    Raises:
        ExportError: Names the source and the first non-finite tensors.
    """
    bad = [k for k, v in state.items()
           if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        first = state[bad[0]]
        raise ExportError(
            f'{src!r}: {len(bad)} tensor(s) of the student hold NaN/Inf, e.g. {_few(bad, 3)} '
            f'({int(torch.isnan(first).sum())} NaN, {int(torch.isinf(first).sum())} Inf of '
            f'{first.numel()} values in {bad[0]!r}); the run diverged or the file is corrupt. '
            'Export an earlier checkpoint.')


def refuse_source_as_output(src: str, out: str) -> None:
    """Refuse an output that is the source file itself (same path, a symlink or a hard link
    to it): even with ``--force`` the training checkpoint (teacher, optimizer, head) would be
    replaced by the backbone-only file.

    Raises:
        ExportError: Names both paths.
    """
    same = src == out
    if not same and osp.exists(src) and osp.exists(out):
        try:
            same = osp.samefile(src, out)
        except OSError:
            same = False
    if same:
        raise ExportError(f'output {out!r} is the source checkpoint {src!r} itself (the same '
                          'file, a symlink or a hard link to it); choose another output path '
                          '(--force never replaces the source)')


# ---------------------------------------------------------------------- provenance
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


# ------------------------------------------------------------------------- export
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

    from .reexport import carry_over, previous_normalisation, previous_provenance
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
    from . import normalisation as norm
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
            from .models import ARCHS, IMAGENET_ARCHS  # trained on ImageNet, whatever layout
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
    from .normalisation import describe
    return describe(value) if isinstance(value, dict) else 'unknown'


__all__ = ['SOURCE_FORMATS', 'SOURCE_LAYOUTS', 'ExportError', 'export_backbone',
           'extract_student', 'load_source', 'parse_config_text', 'read_scalars', 'format_summary',
           'arch_name_of', 'write_atomic']
