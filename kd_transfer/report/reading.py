"""Reading the files of one run directory: scalar logs, text logs, the dumped config and
an exported backbone's provenance."""
import json
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .columns import VAL_KEYS, ReportError


@dataclass
class ScalarLog:
    """The records of one ``vis_data/scalars.json``, in file order.

    Attributes:
        path (str): The file.
        train (list[tuple[int, dict]]): (line number, record) of training records.
        val (list[tuple[int, dict]]): (line number, record) of validation records.
        skipped (list[str]): Warnings about lines that were skipped (file and line).
    """
    path: str
    train: List[Tuple[int, dict]] = field(default_factory=list)
    val: List[Tuple[int, dict]] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)


def _is_train_record(rec: dict) -> bool:
    return any(k == 'lr' or k.endswith('/lr') or k.startswith('loss') for k in rec)


def read_scalars(path: str) -> ScalarLog:
    """Read an mmengine ``scalars.json`` (one JSON object per line).

    A last line that is not valid UTF-8 JSON (a run killed while mmengine was writing it) is
    skipped and recorded in :attr:`ScalarLog.skipped`; any other bad line is an error.

    Args:
        path (str): The file.

    Returns:
        ScalarLog: training and validation records with their line numbers.

    Raises:
        ReportError: the file cannot be read, a line is not UTF-8, or a line other than the
            last is not a JSON object (the message names file and line).
    """
    log = ScalarLog(path)
    try:
        with open(path, 'rb') as f:
            lines = f.read().split(b'\n')
    except OSError as err:
        raise ReportError(f'{path}: cannot read ({err.strerror or err})') from None
    last = max((i for i, line in enumerate(lines, 1) if line.strip()), default=0)
    for lineno, raw in enumerate(lines, 1):
        try:
            text = raw.decode('utf-8').strip()
        except UnicodeDecodeError as err:
            if lineno == last:
                log.skipped.append(f'{path}, line {lineno}: not UTF-8 text, skipped (truncated '
                                   f'last record?): {raw[:80]!r}')
                continue
            raise ReportError(f'{path}, line {lineno}: not UTF-8 text (byte '
                              f'{raw[err.start:err.start + 1]!r} at column {err.start + 1}); '
                              'the file is damaged') from None
        if not text:
            continue
        try:
            rec = json.loads(text)
        except json.JSONDecodeError as err:
            if lineno == last:
                log.skipped.append(f'{path}, line {lineno}: not valid JSON ({err.msg}), '
                                   f'skipped (truncated last record?): {text[:80]!r}')
                continue
            raise ReportError(f'{path}, line {lineno}: not valid JSON ({err.msg}): '
                              f'{text[:80]!r}') from None
        if not isinstance(rec, dict):
            raise ReportError(f'{path}, line {lineno}: expected a JSON object '
                              f'(one scalar record per line), got {type(rec).__name__}')
        if _is_train_record(rec):
            log.train.append((lineno, rec))
        elif VAL_KEYS.intersection(rec):
            log.val.append((lineno, rec))
    return log


_EPOCH_LINE = re.compile(r'Epoch\(train\)\s*\[(\d+)\]\[\s*(\d+)/(\d+)\]')
_ITER_LINE = re.compile(r'Iter\(train\)\s*\[\s*(\d+)/(\d+)\]')


def read_text_log_progress(path: str) -> Dict[str, int]:
    """Last training position in an mmengine text log (fallback when scalars.json has none).

    Args:
        path (str): ``<timestamp>.log``.

    Returns:
        dict: ``epoch`` and/or ``iter`` of the last ``Epoch(train)`` / ``Iter(train)`` line
        (empty when there is none).
    """
    last: Dict[str, int] = {}
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            m = _EPOCH_LINE.search(line)
            if m:
                epoch, i, n = (int(g) for g in m.groups())
                last = {'epoch': epoch, 'iter': (epoch - 1) * n + i}
                continue
            m = _ITER_LINE.search(line)
            if m:
                last = {'iter': int(m.group(1))}
    return last


def load_config(path: str) -> dict:
    """Parse a dumped mmengine config into a plain dict.

    Args:
        path (str): The ``.py`` config.

    Returns:
        dict: The config's literal assignments. The file is parsed, never executed: a work
        dir may come from anywhere, and ``Config.fromfile`` would run its Python.

    Raises:
        ReportError: the file cannot be read or is not valid Python.
    """
    import ast

    from ..config_text import parse_config_text
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
        ast.parse(text, filename=path)
    except (OSError, UnicodeDecodeError, SyntaxError) as err:
        raise ReportError(f'{path}: cannot read the dumped mmengine config '
                          f'({type(err).__name__}: {err})') from None
    return parse_config_text(text)


_PROVENANCE_CACHE: Dict[Tuple[str, float], Optional[dict]] = {}


def read_provenance(path: str) -> Optional[dict]:
    """The ``meta['kd_transfer']`` provenance of an exported backbone.

    Args:
        path (str): Checkpoint written by ``tools/export_backbone.py``.

    Returns:
        dict or None: The provenance, or None when the checkpoint has none. Its ``arch`` /
        ``method`` may be missing or None (an export without ``--method``): the caller lists
        such runs as unidentified.

    Raises:
        ReportError: the file cannot be read, or the provenance is not a dict.
    """
    key = (osp.realpath(path), osp.getmtime(path))
    if key in _PROVENANCE_CACHE:
        return _PROVENANCE_CACHE[key]
    from kd_transfer.safe_load import load_checkpoint_file  # torch.load(weights_only=True)
    try:
        ckpt = load_checkpoint_file(path, map_location='cpu')
    except Exception as err:
        raise ReportError(f'{path}: cannot load the backbone checkpoint ({err})') from None
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    prov = meta.get('kd_transfer') if isinstance(meta, dict) else None
    if prov is not None:
        if not isinstance(prov, dict):
            raise ReportError(f"{path}: meta['kd_transfer'] must be a dict, got "
                              f'{type(prov).__name__}')
    _PROVENANCE_CACHE[key] = prov
    return prov
