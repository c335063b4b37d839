"""Read mmengine work directories back into one transfer report.

The report answers the question of the suite: how much of a student's classification gain
survives when it becomes the backbone of a detector or a segmenter. It reads only what the
earlier stages wrote to disk:

* an mmengine run directory ``<work_dir>/`` holds the config the Runner dumped
  (``<work_dir>/<config_name>.py``) and one ``<timestamp>/`` directory per launch with the text
  log ``<timestamp>.log`` and the JSON-lines scalar log ``<timestamp>/vis_data/scalars.json``
  (training records carry ``lr``, ``loss``..., ``iter``, ``step``; validation records carry the
  metric keys and ``step``, which is the epoch, or the iteration when the LoggerHook has
  ``log_metric_by_epoch=False``);
* a classification run is identified by its config (``Distiller`` -> distillation method,
  teacher and student architectures; ``KDClassifier`` -> ``baseline``);
* a detection / segmentation run is identified by the exported backbone it starts from
  (``model.backbone.init_cfg.checkpoint``), whose ``meta['kd_transfer']`` provenance names the
  architecture, method and teacher; a run with a ``ReviewKDHook`` is a detector-level
  distillation (method ``reviewkd-det``); a run without a backbone checkpoint trains its
  backbone from random weights (method ``scratch``, the config's backbone architecture): the
  positive control, whose gap to the pretrained baseline gets its own section
  (:mod:`kd_transfer.report_control`).

Results are grouped into one row per student (backbone, method, teacher and, for hyper-parameter
sweeps, the swept setting), pooled over seeds only where the configs differ in nothing but the
seed (:mod:`kd_transfer.report_pooling`), summarised with 95 % intervals and compared with the
undistilled baseline of the same backbone by Welch's t (:mod:`kd_transfer.stats`,
:mod:`kd_transfer.report_cells`), and written as ``report.md``, ``report.csv``, ``report.json``
and PNG plots (:mod:`kd_transfer.report_plots`), all or nothing. A run that cannot be read is
listed with its reason; it does not stop the report.
All metrics are reported in percent (ECE too; mmdet's AP in [0, 1] is scaled by 100).
"""
import csv
import datetime
import io
import json
import math
import os
import os.path as osp
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import report_control as control
from . import report_pooling as pooling
from .distill.names import method_name
from .hooks import distill_hook_method
from .hooks.backbone_record import read_record
from .models.names import arch_short_name
from .report_published import GAP_FLAG, cls_dataset_of, published_for, published_text
from .fileio import atomic_write
from .report_cells import (MISSING, STATS_TEXT, Cell, csv_header, csv_values, fmt_value,
                           format_cell)
from .report_cells import fmt as _fmt

#: Name of an mmengine launch directory (``Runner.timestamp``).
TIMESTAMP_RE = re.compile(r'^\d{8}_\d{6}$')

#: Model types of classification runs.
DISTILLER_TYPES = ('Distiller', )
CLASSIFIER_TYPES = ('KDClassifier', )

#: Provenance fields of the transfer runs' backbones (``meta['kd_transfer'][key]``) shown as
#: columns of the report's Runs table, as (key, column label). Add one line to show another.
PROVENANCE_COLUMNS: Tuple[Tuple[str, str], ...] = (
    ('source_format', 'Backbone from'),
    ('normalisation', 'Normalisation'),
)

#: Method of a transfer run whose backbone starts from random weights (no
#: ``model.backbone.init_cfg.checkpoint``): the from-scratch arm of the positive control.
SCRATCH_METHOD = control.SCRATCH

REPORT_FILES = ('report.md', 'report.csv', 'report.json')
#: Prefix of the temporary directory a report is rendered into (inside ``--out``).
TMP_PREFIX = '.report-tmp-'


class ReportError(ValueError):
    """Bad input for the report; the message names the file (and line or field)."""


@dataclass(frozen=True)
class Column:
    """One metric column of the report.

    Attributes:
        key (str): Column key in report.json / report.csv.
        label (str): Column header in report.md.
        task (str): ``'cls'``, ``'det'`` or ``'seg'``: the kind of run that fills it.
        log_key (str): Key of the validation record in ``scalars.json``.
        scale (float): Factor from the logged value to percent.
        dataset (str, optional): For segmentation, the dataset (``'voc'`` / ``'coco'``) the
            run must have been validated on; detection tells datasets apart by key.
        headline (bool): Gets a gain scatter plot (the COCO AP breakdown does not).
    """
    key: str
    label: str
    task: str
    log_key: str
    scale: float
    dataset: Optional[str] = None
    headline: bool = True


COLUMNS: Tuple[Column, ...] = (
    Column('top1', 'Top-1', 'cls', 'cls/top1', 1.0),
    Column('ece', 'ECE', 'cls', 'cls/ece', 100.0),
    Column('voc07_ap50', 'VOC07 AP50', 'det', 'pascal_voc/mAP', 100.0),
    Column('coco_ap', 'COCO AP', 'det', 'coco/bbox_mAP', 100.0),
    Column('coco_ap50', 'COCO AP50', 'det', 'coco/bbox_mAP_50', 100.0, headline=False),
    Column('coco_ap75', 'COCO AP75', 'det', 'coco/bbox_mAP_75', 100.0, headline=False),
    Column('coco_aps', 'COCO APs', 'det', 'coco/bbox_mAP_s', 100.0, headline=False),
    Column('coco_apm', 'COCO APm', 'det', 'coco/bbox_mAP_m', 100.0, headline=False),
    Column('coco_apl', 'COCO APl', 'det', 'coco/bbox_mAP_l', 100.0, headline=False),
    Column('voc_miou', 'VOC mIoU', 'seg', 'mIoU', 1.0, 'voc'),
    Column('coco_miou', 'COCO mIoU', 'seg', 'mIoU', 1.0, 'coco'),
)
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}
TRANSFER_COLUMNS = tuple(c for c in COLUMNS if c.task != 'cls')
#: Keys whose presence marks a validation record.
VAL_KEYS = frozenset([c.log_key for c in COLUMNS] + ['cls/top5', 'cls/nll', 'pascal_voc/AP50',
                                                     'aAcc', 'mAcc'])


# ------------------------------------------------------------------------------------------
# Reading one run directory
# ------------------------------------------------------------------------------------------
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

    from .export import parse_config_text
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


# --- names of architectures ---------------------------------------------------------------
def arch_name(cfg: Any, where: str) -> Optional[str]:
    """Short architecture name (``resnet20``, ``wrn40_2``...) of a model / backbone config.

    Args:
        cfg: An architecture config, a classifier config wrapping one under ``backbone``, a
            dict with an ``arch`` short name, a short name, or None.
        where (str): ``file: field`` used in error messages.

    Returns:
        str or None: The short name (None when ``cfg`` is None).
    """
    if cfg is None:
        return None
    if isinstance(cfg, str):
        return cfg
    if not isinstance(cfg, dict):
        raise ReportError(f'{where}: expected an architecture config dict, got {cfg!r}')
    if isinstance(cfg.get('arch'), str):
        return cfg['arch']
    arch_type = cfg.get('type')
    try:  # kd_transfer.models.names, shared with the exporter
        name = arch_short_name(cfg)
    except KeyError as err:
        raise ReportError(f'{where}: {arch_type} config has no {err} field') from None
    if name is not None:
        return name
    for key in ('backbone', 'model'):
        if isinstance(cfg.get(key), dict):
            return arch_name(cfg[key], f'{where}.{key}')
    if arch_type:
        return f"{arch_type}{cfg.get('depth', '')}"
    raise ReportError(f"{where}: cannot tell the architecture (no 'type' or 'arch' field)")


def _config_stem(value: Any) -> Optional[str]:
    """``'mmdet::faster_rcnn/faster-rcnn_r101_fpn_1x_coco.py'`` -> its file stem."""
    if isinstance(value, dict):
        value = value.get('filename') or value.get('type')
    if not value:
        return None
    return osp.splitext(osp.basename(str(value).split('::')[-1]))[0]


def _numeric_params(cfg: dict, prefix: str = '') -> Dict[str, float]:
    return {prefix + k: v for k, v in cfg.items()
            if k != 'type' and isinstance(v, (int, float)) and not isinstance(v, bool)}


# --- one run ------------------------------------------------------------------------------
@dataclass
class Run:
    """Everything the report knows about one run directory.

    Attributes:
        run_dir (str): The work directory.
        config_file (str): Its dumped config.
        task (str, optional): ``'cls'``, ``'det'`` or ``'seg'``.
        dataset (str, optional): ``'voc'`` / ``'coco'`` for transfer runs.
        arch (str, optional): Student (backbone) architecture.
        method (str, optional): Distillation method, ``'baseline'`` when undistilled.
        teacher (str, optional): Teacher architecture (or detector config for ``*-det``).
        params (dict): Numeric distillation hyper-parameters (classification runs).
        seed (int, optional): ``randomness.seed`` (or the provenance seed).
        metrics (dict): Column key -> value in percent, from the last validation record.
        status (str): ``'ok'``, ``'missing'``, ``'unfinished'``, ``'unidentified'``,
            ``'unreadable'`` (reason: the error) or ``'duplicate'`` (same config and seed as
            another run, counted once).
        reason (str): Why the run is not ``'ok'``.
        progress (str): ``'epoch 3/12'`` / ``'iter 40/80'`` when known.
        log_dir (str, optional): The timestamp directory the metrics come from.
        checkpoint (str, optional): Backbone checkpoint of a transfer run.
        provenance (dict, optional): Its ``meta['kd_transfer']``.
        notes (list[str]): Remarks shown with the run.
        warnings (list[str]): Problems the command line prints (skipped log lines).
        fingerprint (dict): The config keys that define the experiment
            (:func:`kd_transfer.report_pooling.fingerprint`).
    """
    run_dir: str
    config_file: str
    task: Optional[str] = None
    dataset: Optional[str] = None
    arch: Optional[str] = None
    method: Optional[str] = None
    teacher: Optional[str] = None
    params: Dict[str, float] = field(default_factory=dict)
    seed: Optional[int] = None
    metrics: Dict[str, float] = field(default_factory=dict)
    status: str = 'ok'
    reason: str = ''
    progress: str = ''
    log_dir: Optional[str] = None
    checkpoint: Optional[str] = None
    provenance: Optional[dict] = None
    notes: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    fingerprint: Dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        """A JSON-serialisable summary."""
        return dict(work_dir=self.run_dir, config=self.config_file, task=self.task,
                    dataset=self.dataset, arch=self.arch, method=self.method,
                    teacher=self.teacher, params=self.params, seed=self.seed,
                    metrics=self.metrics, status=self.status, reason=self.reason,
                    progress=self.progress, log_dir=self.log_dir, checkpoint=self.checkpoint,
                    provenance={k: (self.provenance or {}).get(k) for k, _ in
                                PROVENANCE_COLUMNS} if self.provenance else None,
                    notes=self.notes)


def _task_of(cfg: dict, val_keys: set) -> Optional[str]:
    model = cfg.get('model') or {}
    if model.get('type') in DISTILLER_TYPES + CLASSIFIER_TYPES or 'cls/top1' in val_keys:
        return 'cls'
    scope = cfg.get('default_scope')
    if scope == 'mmseg' or 'mIoU' in val_keys or model.get('type') in (
            'EncoderDecoder', 'CascadeEncoderDecoder'):
        return 'seg'
    if scope == 'mmdet' or val_keys & {'coco/bbox_mAP', 'pascal_voc/mAP'} or \
            any(k in model for k in ('rpn_head', 'roi_head', 'bbox_head')):
        return 'det'
    return None


#: Dataset types (mmdet / mmseg / kd_transfer registries) -> the report's dataset.
DATASET_TYPES = {'VOCDataset': 'voc', 'PascalVOCDataset': 'voc',
                 'CocoDataset': 'coco', 'COCOStuffDataset': 'coco', 'COCOSemSegDataset': 'coco',
                 'CocoPanopticDataset': 'coco'}
#: Evaluator types -> dataset.
METRIC_TYPES = {'VOCMetric': 'voc', 'CocoMetric': 'coco'}


def _datasets(cfg: dict) -> List[dict]:
    """Dataset configs of the validation, test and training dataloaders (wrappers opened)."""
    found = []
    for loader in ('val_dataloader', 'test_dataloader', 'train_dataloader'):
        todo = [(cfg.get(loader) or {}).get('dataset')]
        while todo:
            ds = todo.pop(0)
            if isinstance(ds, list):
                todo += ds
            elif isinstance(ds, dict):
                found.append(ds)
                todo += [ds.get('dataset'), ds.get('datasets')]
    return found


def _dataset_words(cfg: dict) -> str:
    """What the config says about its dataset (types and annotation files), for messages."""
    words = [f"{ds.get('type', '?')}({ds.get('ann_file', '')})" for ds in _datasets(cfg)]
    return ', '.join(dict.fromkeys(words))


def _dataset_of(cfg: dict, task: str, val_keys: set) -> Optional[str]:
    """VOC or COCO, from the logged metric keys, dataset types, evaluator types or annotation
    files; never from path text (a COCO copy may live under a directory named 'voc')."""
    if task == 'det':
        if 'pascal_voc/mAP' in val_keys:
            return 'voc'
        if 'coco/bbox_mAP' in val_keys:
            return 'coco'
    datasets = _datasets(cfg)
    for ds in datasets:
        if DATASET_TYPES.get(str(ds.get('type', '')).split('.')[-1]):
            return DATASET_TYPES[str(ds['type']).split('.')[-1]]
    evaluators = cfg.get('val_evaluator')
    for ev in evaluators if isinstance(evaluators, list) else [evaluators]:
        if isinstance(ev, dict) and METRIC_TYPES.get(str(ev.get('type', '')).split('.')[-1]):
            return METRIC_TYPES[str(ev['type']).split('.')[-1]]
    for ds in datasets:
        ann = str(ds.get('ann_file') or '')
        if ann.endswith('.json'):
            return 'coco'  # COCO-style annotation file
        if 'ImageSets/' in ann.replace('\\', '/'):
            return 'voc'  # VOC-style image-set list
    return None


def _backbone_checkpoint(model: dict) -> Optional[str]:
    init = (model.get('backbone') or {}).get('init_cfg')
    for item in init if isinstance(init, list) else [init]:
        if isinstance(item, dict) and item.get('checkpoint'):
            return str(item['checkpoint'])
    pretrained = model.get('pretrained')
    return pretrained if isinstance(pretrained, str) and pretrained else None


def _identify_cls(run: Run, cfg: dict) -> None:
    model = cfg.get('model') or {}
    where = f'{run.config_file}: model'
    if model.get('type') in DISTILLER_TYPES or 'distill_losses' in model:
        losses = model.get('distill_losses')
        entries = list(losses.values()) if isinstance(losses, dict) else losses
        if not isinstance(entries, list) or not entries or \
                not all(isinstance(e, dict) and e.get('type') for e in entries):
            raise ReportError(f'{where}.distill_losses: expected a non-empty list (or dict) of '
                              f'loss configs with a type, got {losses!r}')
        names = [method_name(e['type']) for e in entries]  # kd_transfer.distill.names
        run.method = '+'.join(names)
        run.teacher = arch_name(model.get('teacher'), f'{where}.teacher')
        if run.teacher is None:
            raise ReportError(f'{where}.teacher: a Distiller config needs a teacher')
        run.arch = arch_name(model.get('student'), f'{where}.student')
        if run.arch is None:
            raise ReportError(f'{where}.student: a Distiller config needs a student')
        for name, entry in zip(names, entries):
            run.params.update(_numeric_params(entry, '' if len(entries) == 1 else f'{name}.'))
        for k, v in _numeric_params(model).items():
            run.params.setdefault(k, v)
    else:
        run.method = 'baseline'
        run.arch = arch_name(model, where)
    run.dataset = cls_dataset_of(cfg)


def _identify_transfer(run: Run, cfg: dict) -> None:
    model = cfg.get('model') or {}
    record = read_record(run.run_dir)  # validated in load_run
    if record and isinstance(record.get('provenance'), dict):
        _apply_provenance(run, cfg, dict(record['provenance']), record.get('checkpoint') or '?')
        run.checkpoint = record.get('checkpoint')
        path = run.checkpoint
        if path and osp.isfile(path) and record.get('sha256'):
            from .export import sha256_of
            if sha256_of(path) != record['sha256']:
                run.notes.append(f'{path} has changed since this run was trained; identified '
                                 'from the train-time record (backbone_record.json)')
        return
    ckpt = _backbone_checkpoint(model)
    if ckpt is None:  # random backbone: the from-scratch arm of the positive control
        run.arch = arch_name(model.get('backbone'), f'{run.config_file}: model.backbone')
        run.method = SCRATCH_METHOD
        for hook in cfg.get('custom_hooks') or []:
            det_method = distill_hook_method(hook.get('type')) if isinstance(hook, dict) else None
            if det_method:
                run.method = f'{SCRATCH_METHOD}+{det_method}'
                run.teacher = _config_stem(hook.get('teacher_config'))
        return
    path = osp.expanduser(ckpt)
    if not osp.isabs(path) and not osp.exists(path) and \
            osp.exists(osp.join(run.run_dir, path)):
        path = osp.join(run.run_dir, path)
    run.checkpoint = path
    if '://' in ckpt:
        run.status, run.reason = 'unidentified', (
            f'backbone checkpoint {ckpt} is not an exported kd_transfer backbone '
            '(export it with tools/export_backbone.py to record its provenance)')
        return
    if not osp.isfile(path):
        run.status, run.reason = 'unidentified', f'backbone checkpoint {path} not found'
        return
    prov = read_provenance(path)
    if prov is None:
        run.status, run.reason = 'unidentified', (
            f"backbone checkpoint {path} has no meta['kd_transfer'] provenance")
        return
    if record is None:
        run.notes.append('no train-time backbone record (run older than BackboneRecordHook): '
                         'identified from the file now at the path')
    _apply_provenance(run, cfg, prov, path)


def _apply_provenance(run: Run, cfg: dict, prov: dict, path: str) -> None:
    """Identity of a transfer run from its backbone's provenance (record or file)."""
    run.provenance = prov
    unknown = [k for k in ('arch', 'method') if not isinstance(prov.get(k), str) or not prov[k]]
    if unknown:
        run.arch = prov['arch'] if 'arch' not in unknown else None
        run.status, run.reason = 'unidentified', (
            f"backbone checkpoint {path} was exported without "
            f"{' and '.join(unknown)} (meta['kd_transfer']: "
            + ', '.join(f'{k}={prov.get(k)!r}' for k in unknown) + '); re-export the '
            'classification student with tools/export_backbone.py --method NAME (a detector or '
            'segmenter checkpoint is not one)')
        return
    run.arch, run.method, run.teacher = prov['arch'], prov['method'], prov.get('teacher')
    for hook in cfg.get('custom_hooks') or []:
        det_method = distill_hook_method(hook.get('type')) if isinstance(hook, dict) else None
        if det_method:
            run.method = det_method if prov['method'] == 'baseline' else \
                f"{prov['method']}+{det_method}"
            run.teacher = _config_stem(hook.get('teacher_config'))
    if run.seed is None and prov.get('seed') is not None:
        run.seed = prov['seed']


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


# ------------------------------------------------------------------------------------------
# Aggregation
# ------------------------------------------------------------------------------------------
@dataclass
class Row:
    """One student: backbone, method, teacher and (for sweeps) setting."""
    arch: str
    method: str
    teacher: Optional[str]
    setting: Tuple[Tuple[str, float], ...]
    variant: Tuple[Tuple[str, str], ...] = ()  # config keys that set it apart (pooling)
    cells: Dict[str, Cell] = field(default_factory=dict)
    runs: List[Run] = field(default_factory=list)

    def setting_text(self) -> str:
        text = ', '.join(f'{k}={_fmt_param(v)}' for k, v in self.setting)
        if self.variant:
            text += ('; ' if text else '') + pooling.variant_text(self.variant)
        return text

    def mean(self, key: str) -> Optional[float]:
        cell = self.cells.get(key)
        return cell.mean if cell else None

    def delta(self, key: str) -> Optional[float]:
        cell = self.cells.get(key)
        return cell.delta if cell else None


def _fmt_param(v: Optional[float]) -> str:
    return '?' if v is None else f'{v:g}'


@dataclass
class Sweep:
    """A two-parameter grid of one (method, teacher, arch) group."""
    arch: str
    method: str
    teacher: Optional[str]
    x_param: str
    y_param: str
    x_values: List[float]
    y_values: List[float]
    grids: Dict[str, List[List[Optional[float]]]]  # column key -> [y][x] means
    plot: Optional[str] = None


def _varying_params(runs: Sequence[Run]) -> List[str]:
    names: List[str] = []
    for run in runs:
        names += [k for k in run.params if k not in names]
    return [k for k in names if len({run.params.get(k) for run in runs}) > 1]


def _sweep_axes(runs: Sequence[Run], varying: Sequence[str]) -> Optional[Tuple[str, str]]:
    """First pair of varying parameters that forms a grid and determines all the others."""
    for a, b in combinations(varying, 2):
        rest = [k for k in varying if k not in (a, b)]
        seen: Dict[tuple, tuple] = {}
        ok = True
        for run in runs:
            point = (run.params.get(a), run.params.get(b))
            other = tuple(run.params.get(k) for k in rest)
            if seen.setdefault(point, other) != other or None in point:
                ok = False
                break
        if ok and len({p[0] for p in seen}) > 1 and len({p[1] for p in seen}) > 1:
            return a, b
    return None


@dataclass
class Report:
    """Everything written to report.md / .csv / .json."""
    rows: List[Row]
    runs: List[Run]
    sweeps: List[Sweep]
    baseline_method: str
    work_dirs: List[str]
    note: Optional[str] = None
    date: str = ''
    plots: List[Tuple[str, str]] = field(default_factory=list)  # (title, file name)

    @property
    def controls(self) -> List[control.Control]:
        """The positive control: pretrained against scratch rows (:mod:`report_control`)."""
        return control.positive_controls(self.rows, TRANSFER_COLUMNS, self.baseline_method)

    @property
    def problem_runs(self) -> List[Run]:
        return [r for r in self.runs if r.status != 'ok']


def summarize(runs: Sequence[Run], baseline_method: str = 'baseline') -> Tuple[List[Row],
                                                                                List[Sweep]]:
    """Group finished runs into rows, average seeds, compute deltas and find sweeps.

    Args:
        runs (Sequence[Run]): All runs (only ``status == 'ok'`` ones are used).
        baseline_method (str): Method of the undistilled rows the deltas refer to.

    Returns:
        tuple[list[Row], list[Sweep]]: The rows (sorted) and the detected sweeps.
    """
    ok = [r for r in runs if r.status == 'ok']
    copies = pooling.mark_duplicates(ok)
    ok = [r for r in ok if r.status == 'ok']
    cls_runs = [r for r in ok if r.task == 'cls']
    # settings: the hyper-parameters that vary within a (arch, method, teacher) group
    groups: Dict[tuple, List[Run]] = {}
    for run in cls_runs:
        groups.setdefault((run.arch, run.method, run.teacher), []).append(run)
    setting_of: Dict[str, tuple] = {}
    identity_of: Dict[str, tuple] = {}
    varying_of: Dict[tuple, List[str]] = {}
    for key, members in groups.items():
        varying = _varying_params(members)
        varying_of[key] = varying
        for run in members:
            setting_of[osp.realpath(run.run_dir)] = tuple((k, run.params.get(k))
                                                          for k in varying)
            identity_of[osp.realpath(run.run_dir)] = key
    # variants: runs of one row whose configs differ in more than the seed are not pooled
    variant_of = pooling.variants(cls_runs, lambda r: (identity_of[osp.realpath(r.run_dir)],
                                                       setting_of[osp.realpath(r.run_dir)]))
    for copy, kept in copies:  # a backbone exported from a copy belongs to the kept run
        for table in (setting_of, identity_of, variant_of):
            if osp.realpath(kept.run_dir) in table:
                table[osp.realpath(copy.run_dir)] = table[osp.realpath(kept.run_dir)]

    placed: List[Tuple[Run, tuple]] = []
    for run in ok:
        setting: tuple = ()
        cls_variant: tuple = ()
        arch, method, teacher = run.arch, run.method, run.teacher
        if run.task == 'cls':
            setting = setting_of[osp.realpath(run.run_dir)]
        else:
            src = (run.provenance or {}).get('work_dir')
            src = osp.realpath(src) if isinstance(src, str) and src else None
            if src in identity_of:  # the classification run this backbone came from
                setting = setting_of[src]
                cls_variant = variant_of[src]
                if run.method == run.provenance['method']:
                    arch, method, teacher = identity_of[src]
        placed.append((run, (arch, method, teacher, setting, cls_variant)))
    transfer = [(run, key) for run, key in placed if run.task != 'cls']
    key_of = {id(run): key for run, key in transfer}
    transfer_variant = pooling.variants([run for run, _ in transfer],
                                        lambda r: (key_of[id(r)], r.task, r.dataset),
                                        prefix=lambda r: f'{r.task}: ')

    rows: Dict[tuple, Row] = {}
    for run, (arch, method, teacher, setting, cls_variant) in placed:
        variant = variant_of[osp.realpath(run.run_dir)] if run.task == 'cls' else \
            cls_variant + transfer_variant[osp.realpath(run.run_dir)]
        key = (arch, method, teacher, setting, variant)
        if key not in rows:
            rows[key] = Row(arch, method, teacher, setting, variant)
        row = rows[key]
        row.runs.append(run)
        for metric, value in run.metrics.items():
            cell = row.cells.setdefault(metric, Cell())
            cell.values.append(value)
            cell.seeds.append(run.seed)
            cell.runs.append(run.run_dir)

    task_order = {'cls': 0, 'det': 1, 'seg': 2}
    for row in rows.values():
        row.runs.sort(key=lambda r: (task_order.get(r.task, 3), r.dataset or '', r.run_dir))
    _provenance_fallback(rows.values())
    _deltas(rows.values(), baseline_method)
    ordered = sorted(rows.values(), key=lambda r: (
        r.arch, r.method != baseline_method, r.method, r.teacher or '',
        tuple((v is None, v or 0) for _, v in r.setting), r.variant))

    sweeps = []
    for (arch, method, teacher), members in groups.items():
        axes = _sweep_axes(members, varying_of[(arch, method, teacher)])
        if axes is None:
            continue
        a, b = axes
        group_rows = [r for r in ordered if (r.arch, r.method, r.teacher) ==
                      (arch, method, teacher) and r.setting and not r.variant]
        xs = sorted({dict(r.setting)[a] for r in group_rows})
        ys = sorted({dict(r.setting)[b] for r in group_rows})
        grids: Dict[str, List[List[Optional[float]]]] = {}
        for col in COLUMNS:
            grid: List[List[Optional[float]]] = [[None] * len(xs) for _ in ys]
            for r in group_rows:
                s = dict(r.setting)
                grid[ys.index(s[b])][xs.index(s[a])] = r.mean(col.key)
            if any(v is not None for line in grid for v in line):
                grids[col.key] = grid
        sweeps.append(Sweep(arch, method, teacher, a, b, xs, ys, grids))
    for sweep in sweeps:  # the sweep's rows are labelled by its two axes only
        for r in ordered:
            if (r.arch, r.method, r.teacher) == (sweep.arch, sweep.method, sweep.teacher) \
                    and r.setting:
                s = dict(r.setting)
                r.setting = ((sweep.x_param, s[sweep.x_param]), (sweep.y_param,
                                                                   s[sweep.y_param]))
    return ordered, sweeps


def _provenance_fallback(rows) -> None:
    """Fill Top-1 / ECE of rows without a classification run from their backbones' provenance."""
    for row in rows:
        if 'top1' in row.cells or 'ece' in row.cells:
            continue
        seen = set()
        for run in row.runs:
            prov = run.provenance or {}
            if run.task == 'cls' or not prov or run.method != prov.get('method'):
                continue  # a detector-level distillation does not change the backbone
            source = prov.get('source_sha256') or prov.get('source') or run.checkpoint
            if source in seen:
                continue
            seen.add(source)
            for key, scale in (('top1', 1.0), ('ece', 100.0)):
                if isinstance(prov.get(key), (int, float)):
                    cell = row.cells.setdefault(key, Cell(source='provenance'))
                    cell.values.append(float(prov[key]) * scale)
                    cell.seeds.append(prov.get('seed'))
                    cell.runs.append(run.checkpoint)


def _deltas(rows, baseline_method: str) -> None:
    """Compare every row with the baseline row of its backbone: the one of the same variant,
    else the plain one (no setting, no variant); none when that is ambiguous."""
    baselines: Dict[tuple, Row] = {}
    for row in rows:
        if row.method == baseline_method and ((row.arch, row.variant) not in baselines or
                                              not row.setting):
            baselines[row.arch, row.variant] = row
    for row in rows:
        base = baselines.get((row.arch, row.variant)) or baselines.get((row.arch, ()))
        if base is None or base is row:
            continue
        for key, cell in row.cells.items():
            if key in base.cells:
                cell.compare(base.cells[key])


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


# ------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------
def _atomic_write(path: str, write: Callable[[Any], None], binary: bool = False) -> None:
    """Render with ``write(file)`` into memory, then write ``path`` atomically."""
    buffer = io.BytesIO() if binary else io.StringIO(newline='')
    write(buffer)
    atomic_write(path, buffer.getvalue())


def _md_table(header: Sequence[str], lines: Sequence[Sequence[str]],
              align: Optional[Sequence[str]] = None) -> str:
    align = align or ['---'] * len(header)
    out = ['| ' + ' | '.join(header) + ' |', '|' + '|'.join(align) + '|']
    out += ['| ' + ' | '.join(str(c).replace('|', '\\|') for c in line) + ' |'
            for line in lines]
    return '\n'.join(out)


def _used_columns(rows: Sequence[Row]) -> List[Column]:
    return [c for c in COLUMNS if any(c.key in r.cells for r in rows)]


def render_markdown(report: Report) -> str:
    """The text of report.md."""
    used = _used_columns(report.rows)
    unused = [c.label for c in COLUMNS if c not in used]
    out = ['# Transfer report', '',
           f'- Date: {report.date}',
           '- Work dirs: ' + ', '.join(f'`{d}`' for d in report.work_dirs),
           f'- Note: {report.note or MISSING}',
           f'- Runs: {len(report.runs)} read, {len(report.runs) - len(report.problem_runs)} '
           f'in the results, {len(report.problem_runs)} left out (missing / unfinished / '
           'unidentified / unreadable / duplicate)',
           '', '## Results', '',
           'All values in percent (ECE too). ' + STATS_TEXT.format(baseline=report.baseline_method)
           + f' {MISSING}: no run. †: read from the exported backbone\'s provenance (no '
           'classification run given). Detection: Faster R-CNN style box AP (VOC07: AP50, '
           '11-point); segmentation: mIoU.', '']
    if unused:
        out += [f'Columns without any run (left out): {", ".join(unused)}.', '']
    header = ['Backbone', 'Method', 'Teacher', 'Setting'] + [c.label for c in used]
    lines = [[r.arch, r.method, r.teacher or MISSING, r.setting_text() or MISSING] +
             [format_cell(r.cells.get(c.key)) for c in used] for r in report.rows]
    published = [published_for(r) for r in report.rows]
    if any(published) and used and used[0].key == 'top1':
        header.insert(5, 'Published top-1')
        for line, info in zip(lines, published):
            line.insert(5, published_text(info))
        out += [f'Published top-1: the paper\'s or public repository\'s number for the same '
                f'dataset, pair and method (source in report.json), with the measured mean '
                f'minus it; ⚠: a gap above {GAP_FLAG:g} point.', '']
    out += [_md_table(header, lines, ['---'] * 4 + ['---:'] * (len(header) - 4)) if lines
            else 'No finished run.', '']

    out += control.render_markdown(report.controls, report.baseline_method, _md_table)
    out += ['## Missing / unfinished runs', '']
    problems = report.problem_runs
    if problems:
        lines = [[r.status, f'`{r.run_dir}`', r.task or MISSING, r.arch or MISSING,
                  r.method or MISSING, r.reason, r.progress or MISSING,
                  ', '.join(f'{COLUMN_BY_KEY[k].label} {v:.2f}' for k, v in r.metrics.items())
                  or MISSING] for r in problems]
        out += [_md_table(['Status', 'Work dir', 'Task', 'Backbone', 'Method', 'Reason',
                           'Progress', 'Last values'], lines), '']
        out += ['These runs are not part of the results table. A `duplicate` has the same '
                'config and seed as a run that is counted (a copied or re-launched work dir).',
                '']
    else:
        out += ['None: every run finished and was identified.', '']

    out += ['## Plots', '']
    if report.plots:
        for title, name in report.plots:
            out += [f'- [{title}]({name})']
        out += ['']
        for title, name in report.plots:
            out += [f'![{title}]({name})', '']
    else:
        out += ['No plot: no row has both a Top-1 change and a transfer change.', '']

    if report.sweeps:
        out += ['## Sweeps', '']
    for sw in report.sweeps:
        keys = [k for k in ('top1', 'ece') + tuple(c.key for c in TRANSFER_COLUMNS)
                if k in sw.grids]
        out += [f'### {sw.method}: {sw.teacher or MISSING} -> {sw.arch} '
                f'({sw.x_param} x {sw.y_param})', '']
        if sw.plot:
            out += [f'![sweep {sw.method}]({sw.plot})', '']
        out += ['Cells: ' + ' / '.join(COLUMN_BY_KEY[k].label for k in keys) +
                ' (mean over runs).', '']
        header = [f'{sw.y_param} \\ {sw.x_param}'] + [_fmt_param(x) for x in sw.x_values]
        lines = []
        for yi, y in enumerate(sw.y_values):
            lines.append([_fmt_param(y)] + [' / '.join(_fmt(sw.grids[k][yi][xi]) for k in keys)
                                            for xi in range(len(sw.x_values))])
        out += [_md_table(header, lines), '']

    out += ['## Runs', '']
    lines = []
    for row in report.rows:
        for run in row.runs:
            lines.append([row.arch, row.method, row.teacher or MISSING,
                          row.setting_text() or MISSING,
                          f'{run.task} {run.dataset or ""}'.strip(),
                          MISSING if run.seed is None else str(run.seed), f'`{run.run_dir}`'] +
                         [fmt_value((run.provenance or {}).get(key))
                          for key, _ in PROVENANCE_COLUMNS] + ['; '.join(run.notes) or MISSING])
    out += [_md_table(['Backbone', 'Method', 'Teacher', 'Setting', 'Task', 'Seed', 'Work dir'] +
                      [label for _, label in PROVENANCE_COLUMNS] + ['Notes'], lines)
            if lines else 'No finished run.', '']
    return '\n'.join(out)


def render_csv(report: Report) -> str:
    """The text of report.csv: one line per row, the STAT_FIELDS of every metric."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    header = ['backbone', 'method', 'teacher', 'setting']
    for c in COLUMNS:
        header += csv_header(c.key)
    writer.writerow(header + ['published_top1', 'published_gap', 'published_flag',
                              'published_source'])
    for r in report.rows:
        line = [r.arch, r.method, r.teacher or '', r.setting_text()]
        for c in COLUMNS:
            line += csv_values(r.cells.get(c.key))
        info = published_for(r) or {}
        writer.writerow(line + ['' if info.get(k) is None else info[k]
                                for k in ('top1', 'gap', 'flag', 'source')])
    return buf.getvalue()


def report_dict(report: Report) -> dict:
    """The content of report.json."""
    return dict(
        date=report.date, work_dirs=report.work_dirs, note=report.note,
        baseline_method=report.baseline_method, units='percent',
        columns=[dict(key=c.key, label=c.label, task=c.task, log_key=c.log_key,
                      scale_to_percent=c.scale, dataset=c.dataset) for c in COLUMNS],
        statistics=dict(level=0.95, cell='Student t interval of the mean over seeds',
                        delta="Welch's t interval (Welch-Satterthwaite df); significant: the "
                        'interval excludes 0'),
        rows=[dict(backbone=r.arch, method=r.method, teacher=r.teacher,
                   setting=dict(r.setting), variant=dict(r.variant),
                   metrics={k: r.cells[k].to_json() for k in COLUMN_BY_KEY if k in r.cells},
                   published=published_for(r))
              for r in report.rows],
        positive_control=[c.to_json() for c in report.controls],
        missing=[r.to_json() for r in report.problem_runs],
        sweeps=[dict(backbone=s.arch, method=s.method, teacher=s.teacher, x_param=s.x_param,
                     y_param=s.y_param, x_values=s.x_values, y_values=s.y_values,
                     grids=s.grids, plot=s.plot) for s in report.sweeps],
        plots=[dict(title=t, file=f) for t, f in report.plots] +
        [dict(title=f'sweep {s.method}', file=s.plot) for s in report.sweeps if s.plot],
        runs=[r.to_json() for r in report.runs])


def _safe_name(text: str) -> str:
    return re.sub(r'[^A-Za-z0-9_.+-]+', '-', text).strip('-')


def write_report(report: Report, out_dir: str, force: bool = False) -> List[str]:
    """Write report.md / .csv / .json and the PNG plots into ``out_dir``.

    Args:
        report (Report): From :func:`build_report`'s collection and summary steps.
        out_dir (str): Output directory (created if needed).
        force (bool): Overwrite an existing report.

    Returns:
        list[str]: The files written.

    Raises:
        ReportError: a report exists in ``out_dir`` and ``force`` is False.
    """
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise ReportError(f'--out {out_dir!r} exists and is not a directory')
    os.makedirs(out_dir, exist_ok=True)
    existing = [f for f in REPORT_FILES if osp.exists(osp.join(out_dir, f))]
    if existing and not force:
        raise ReportError(f'{osp.join(out_dir, existing[0])} already exists; pass --force to '
                          'overwrite the report')
    _refuse_non_files(out_dir, REPORT_FILES)
    old_plots = _previous_plots(out_dir) if existing else []

    # all-or-nothing: every file is rendered into a temporary directory first; only when all
    # of them exist are they moved into place (report.md last), so a crash while rendering
    # leaves the previous report untouched
    tmp = tempfile.mkdtemp(prefix=TMP_PREFIX, dir=out_dir)
    try:
        names = _render_all(report, tmp)
        _refuse_non_files(out_dir, names)  # before the first move: all or nothing
        for name in names:
            os.replace(osp.join(tmp, name), osp.join(out_dir, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for name in os.listdir(out_dir):  # left by a writer killed an hour ago or more
        path = osp.join(out_dir, name)
        if name.startswith(TMP_PREFIX) and osp.isdir(path) and not osp.islink(path) and \
                time.time() - osp.getmtime(path) > 3600:
            shutil.rmtree(path, ignore_errors=True)
    for name in old_plots:  # plots of an earlier report that this one no longer has
        path = osp.join(out_dir, name)
        if name not in names and osp.isfile(path) and name.endswith('.png') and \
                osp.basename(name) == name:
            os.unlink(path)
    return [osp.join(out_dir, name) for name in names]


def _refuse_non_files(out_dir: str, names: Sequence[str]) -> None:
    """Raise if an output path in ``out_dir`` exists but is not a file (a directory, say),
    which ``os.replace`` could not replace."""
    for name in names:
        path = osp.join(out_dir, name)
        if osp.lexists(path) and not osp.isfile(path):
            raise ReportError(f'{path} exists and is not a file (a directory?); the report '
                              'writes a file there: move it away or choose another --out. '
                              'Nothing was written.')


def _render_all(report: Report, out_dir: str) -> List[str]:
    """Write the plots, report.csv, report.json and report.md (last) into ``out_dir``."""
    from .report_plots import plot_gain, plot_sweep  # matplotlib only when writing
    names = []
    report.plots = []
    for col in (c for c in TRANSFER_COLUMNS if c.headline):
        name = f'gain_{col.key}.png'
        if plot_gain(report.rows, col, osp.join(out_dir, name)):
            report.plots.append((f'Top-1 gain vs {col.label} gain', name))
            names.append(name)
    per_method: Dict[str, int] = {}
    for sw in report.sweeps:
        per_method[sw.method] = per_method.get(sw.method, 0) + 1
    for sw in report.sweeps:
        name = f'sweep_{_safe_name(sw.method)}.png' if per_method[sw.method] == 1 else \
            f'sweep_{_safe_name(sw.method)}_{_safe_name(sw.teacher or "none")}-' \
            f'{_safe_name(sw.arch)}.png'
        plot_sweep(sw, osp.join(out_dir, name))
        sw.plot = name
        names.append(name)
    _atomic_write(osp.join(out_dir, 'report.csv'), lambda f: f.write(render_csv(report)))
    _atomic_write(osp.join(out_dir, 'report.json'), lambda f: f.write(
        json.dumps(report_dict(report), indent=2, allow_nan=False) + '\n'))
    _atomic_write(osp.join(out_dir, 'report.md'), lambda f: f.write(render_markdown(report)))
    return names + ['report.csv', 'report.json', 'report.md']


def _previous_plots(out_dir: str) -> List[str]:
    try:
        with open(osp.join(out_dir, 'report.json'), encoding='utf-8') as f:
            return [p['file'] for p in json.load(f).get('plots', []) if p.get('file')]
    except (OSError, ValueError, AttributeError, TypeError, KeyError):
        return []


def _check_baseline_method(runs: Sequence[Run], baseline_method: str) -> None:
    """Raise if ``baseline_method`` (other than the default) is the method of no run: every
    delta would be dropped silently."""
    methods = sorted({r.method for r in runs if r.method})
    if baseline_method != 'baseline' and methods and baseline_method not in methods:
        raise ReportError(f'--baseline-method {baseline_method!r} is the method of no run; '
                          f'methods present: {", ".join(methods)}')


def build_report(work_dirs: Sequence[str], out_dir: str, baseline_method: str = 'baseline',
                 note: Optional[str] = None, force: bool = False,
                 date: Optional[str] = None) -> Report:
    """Read the runs under ``work_dirs`` and write the report into ``out_dir``.

    Args:
        work_dirs (Sequence[str]): Run directories or parents of run directories.
        out_dir (str): Output directory.
        baseline_method (str): Method name of the undistilled rows. Defaults to 'baseline'.
        note (str, optional): Free text shown in the header (e.g. 'generated data').
        force (bool): Overwrite an existing report.
        date (str, optional): Date shown in the header; now by default.

    Returns:
        Report: What was written.
    """
    if not force:  # fail before reading anything
        for name in REPORT_FILES:
            if osp.exists(osp.join(out_dir, name)):
                raise ReportError(f'{osp.join(out_dir, name)} already exists; pass --force to '
                                  'overwrite the report')
    runs = collect_runs(work_dirs)
    _check_baseline_method(runs, baseline_method)
    rows, sweeps = summarize(runs, baseline_method)
    report = Report(rows=rows, runs=runs, sweeps=sweeps, baseline_method=baseline_method,
                    work_dirs=[str(d) for d in work_dirs], note=note,
                    date=date or datetime.datetime.now().strftime('%Y-%m-%d %H:%M'))
    write_report(report, out_dir, force=force)
    return report
