"""Finding run directories and reading each into a :class:`~kd_transfer.report.identity.Run`
(identity, last metrics, completion)."""
import math
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

from ..hooks.backbone_record import read_record
from . import pooling
from .columns import COLUMNS, TIMESTAMP_RE, ReportError
from .identity import (Run, _dataset_of, _dataset_words, _identify_cls, _identify_transfer,
                       _task_of)
from .reading import ScalarLog, load_config, read_scalars, read_text_log_progress


def _check_finished(run: Run, cfg: dict, logs: List[Tuple[str, ScalarLog]],
                    chosen: int) -> None:
    """Set ``run.progress`` and mark the run unfinished when training did not reach its end."""
    train_cfg = cfg.get('train_cfg') or {}
    logger = (cfg.get('default_hooks') or {}).get('logger') or {}
    val_by_epoch = logger.get('log_metric_by_epoch', True) if isinstance(logger, dict) else True
    last_val = logs[chosen][1].val[-1][1]
    # the last training position over all launches
    last_train: Dict[str, int] = {}
    for ts_dir, log in reversed(logs):
        if log.train:
            last_train = log.train[-1][1]
            break
        text_log = osp.join(ts_dir, osp.basename(ts_dir) + '.log')
        if osp.isfile(text_log):
            last_train = read_text_log_progress(text_log)
            if last_train:
                break
    if 'max_epochs' in train_cfg:
        total, unit = int(train_cfg['max_epochs']), 'epoch'
        reached = last_val.get('step', 0) if val_by_epoch else last_train.get('epoch', 0)
    elif 'max_iters' in train_cfg:
        total, unit = int(train_cfg['max_iters']), 'iter'
        reached = last_train.get('iter', 0) if val_by_epoch else last_val.get('step', 0)
    else:
        run.notes.append('no train_cfg.max_epochs / max_iters: completion not checked')
        run.progress = f"last validation at step {last_val.get('step', '?')}"  # for pooling
        return
    reached = int(reached or 0)
    run.progress = f'{unit} {reached}/{total}'
    if reached < total:
        run.status = 'unfinished'
        run.reason = f'training stopped at {unit} {reached} of {total}'


def load_run(run_dir: str) -> Run:
    """Read one mmengine run directory.

    Args:
        run_dir (str): Directory with the dumped config and ``<timestamp>/`` launch dirs.

    Returns:
        Run: identity, metrics of the last validation record of the latest launch that has
        one, and status.

    Raises:
        ReportError: unreadable config, malformed scalars.json or provenance.
    """
    configs = sorted(f for f in os.listdir(run_dir) if f.endswith('.py'))
    if not configs:
        raise ReportError(f'{run_dir}: no dumped config (*.py) in this run directory')
    config_file = osp.join(run_dir, max(configs, key=lambda f: osp.getmtime(
        osp.join(run_dir, f))))
    run = Run(run_dir=run_dir, config_file=config_file)
    if len(configs) > 1:
        run.notes.append(f'several configs ({", ".join(configs)}): used the newest, '
                         f'{osp.basename(config_file)}')
    cfg = load_config(config_file)
    if not isinstance(cfg.get('model'), dict):
        raise ReportError(f'{config_file}: no model dict in the config')
    run.fingerprint = pooling.fingerprint(cfg)
    seed = (cfg.get('randomness') or {}).get('seed')
    run.seed = int(seed) if isinstance(seed, (int, float)) else None

    logs = []
    for name in sorted(os.listdir(run_dir)):
        ts_dir = osp.join(run_dir, name)
        if TIMESTAMP_RE.match(name) and osp.isdir(ts_dir):
            scalars = osp.join(ts_dir, 'vis_data', 'scalars.json')
            log = read_scalars(scalars) if osp.isfile(scalars) else ScalarLog(scalars)
            logs.append((ts_dir, log))
            run.notes += log.skipped
            run.warnings += log.skipped
    with_val = [i for i, (_, log) in enumerate(logs) if log.val]
    try:
        record = read_record(run_dir)
    except ValueError as err:
        raise ReportError(str(err)) from None
    if record and record.get('fresh_start') and record.get('launch'):
        # a new run started in this work dir (--force): launches before it are another run's
        earlier = [i for i in with_val if osp.basename(logs[i][0]) < str(record['launch'])]
        if earlier:
            with_val = [i for i in with_val if i not in earlier]
            run.notes.append(f"validation records of {len(earlier)} launch(es) before "
                             f"{record['launch']} ignored: they belong to an earlier run in "
                             'this work dir')
    val_keys = set(logs[with_val[-1]][1].val[-1][1]) if with_val else set()

    run.task = _task_of(cfg, val_keys)
    if run.task == 'cls':
        _identify_cls(run, cfg)
    elif run.task in ('det', 'seg'):
        run.dataset = _dataset_of(cfg, run.task, val_keys)
        _identify_transfer(run, cfg)
        if run.status == 'ok' and run.dataset is None:
            run.status, run.reason = 'unidentified', (
                f'{run.task} dataset is neither VOC nor COCO (dataset: '
                f'{_dataset_words(cfg) or "?"})')
    else:
        run.status, run.reason = 'unidentified', (
            'neither a classification, detection nor segmentation run')

    if not with_val:
        last = next((log.train[-1][1] for _, log in reversed(logs) if log.train), {})
        if 'iter' in last:
            run.progress = (f"epoch {last['epoch']}, " if 'epoch' in last else '') + \
                f"iter {last['iter']}"
        if run.status == 'ok':
            run.status = 'missing'
            where = 'no <timestamp>/ launch directory' if not logs else \
                'no validation record in ' + ', '.join(
                    osp.relpath(log.path, run_dir) for _, log in logs)
            run.reason = where
        return run
    chosen = with_val[-1]
    run.log_dir = logs[chosen][0]
    if chosen != len(logs) - 1:
        run.notes.append(f'newer launch {osp.basename(logs[-1][0])} has no validation record')
    record = logs[chosen][1].val[-1][1]
    for col in COLUMNS:
        if col.task == run.task and col.dataset in (None, run.dataset) and \
                col.log_key in record:
            raw = record[col.log_key]
            if isinstance(raw, bool) or not isinstance(raw, (int, float)):
                raise ReportError(f'{logs[chosen][1].path}, line {logs[chosen][1].val[-1][0]}: '
                                  f'{col.log_key} must be a number, got {raw!r}')
            if not math.isfinite(raw) or (col.task == 'det' and raw < 0):
                # COCO logs -1 for an area range without objects
                run.notes.append(f'{col.log_key} = {raw} treated as missing')
                continue
            run.metrics[col.key] = float(raw) * col.scale
    if run.status == 'ok':
        _check_finished(run, cfg, logs, chosen)
    return run


_SKIPPED_DIRS = ('__pycache__', 'vis_data')


def _is_run_dir(path: str, files: Sequence[str], dirs: Sequence[str]) -> bool:
    if osp.basename(path) in _SKIPPED_DIRS or '__init__.py' in files or \
            not any(f.endswith('.py') for f in files):
        return False
    subdirs = [d for d in dirs if not d.startswith('.') and d not in _SKIPPED_DIRS]
    return not subdirs or any(TIMESTAMP_RE.match(d) for d in subdirs)


def discover_run_dirs(work_dirs: Sequence[str]) -> List[str]:
    """Find mmengine run directories in (or at) the given paths, recursively.

    Args:
        work_dirs (Sequence[str]): Run directories or parents of run directories.

    Returns:
        list[str]: Run directories, each once, sorted.

    Raises:
        ReportError: a path is not a directory, or no run directory was found.
    """
    found: Dict[str, str] = {}
    for root_dir in work_dirs:
        if not osp.isdir(root_dir):
            raise ReportError(f'work dir {root_dir!r} does not exist or is not a directory')
        for path, dirs, files in os.walk(root_dir):
            dirs.sort()
            if _is_run_dir(path, files, dirs):
                found.setdefault(osp.realpath(path), osp.normpath(path))
            # a run dir may hold other runs (a transfer run inside its student's work dir)
            dirs[:] = [d for d in dirs if not TIMESTAMP_RE.match(d)
                       and not d.startswith('.') and d not in _SKIPPED_DIRS]
    if not found:
        raise ReportError('no mmengine run directory (a dumped <config>.py next to '
                          '<timestamp>/ log directories) under ' + ', '.join(work_dirs))
    return sorted(found.values())


def collect_runs(work_dirs: Sequence[str]) -> List[Run]:
    """Discover and read every run directory under ``work_dirs``.

    A run that cannot be read (bad config, damaged log, unreadable provenance) does not stop
    the others: it is returned with status ``'unreadable'`` and the error as its reason.
    """
    runs = []
    for run_dir in discover_run_dirs(work_dirs):
        try:
            runs.append(load_run(run_dir))
        except (ReportError, OSError) as err:
            runs.append(Run(run_dir=run_dir, config_file='', status='unreadable',
                            reason=str(err), warnings=[str(err)]))
    return runs
