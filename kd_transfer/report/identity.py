"""What a run is: task, dataset, backbone, method and teacher, from its config and (for a
transfer run) its backbone's provenance."""
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..distill.names import method_name
from ..hooks import distill_hook_method
from ..hooks.backbone_record import read_record
from ..models.names import arch_short_name
from . import columns
from .columns import CLASSIFIER_TYPES, DISTILLER_TYPES, SCRATCH_METHOD, ReportError
from .published import cls_dataset_of
from .reading import read_provenance


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
            (:func:`kd_transfer.report.pooling.fingerprint`).
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
                                columns.PROVENANCE_COLUMNS} if self.provenance else None,
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
            from ..export import sha256_of
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
