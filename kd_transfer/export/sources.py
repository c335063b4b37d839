"""Reading a source checkpoint and extracting its student state dict."""
import hashlib
import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, Optional, Sequence

from torch import Tensor

from .formats import SOURCE_FORMATS, ExportError


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
        from ..safe_load import safe_torch_load  # weights-only on every supported torch
        return safe_torch_load(path, map_location='cpu')
    except Exception as err:  # noqa: BLE001  (torch raises many types for a bad file)
        from ..safe_load import _reason  # torch's refusal without its advice to load unsafely
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
