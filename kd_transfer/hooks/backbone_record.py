"""Record, at train time, which backbone a transfer run started from.

The report must credit a detection / segmentation run to the student it was trained from. The
file at ``model.backbone.init_cfg.checkpoint`` can change after the run (re-exported with
``--force``, another student written to the same path), so :class:`BackboneRecordHook` writes
``<work_dir>/backbone_record.json`` when training starts: the checkpoint's path, SHA-256 and
provenance (method, teacher, seed, normalisation, ...), and the launch it belongs to. The report
reads this record instead of the file currently at the path.
"""
import json
import os.path as osp
import time
from typing import Any, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ..fileio import atomic_write

RECORD_FILE = 'backbone_record.json'
#: Provenance entries copied into the record.
RECORDED = ('arch', 'method', 'teacher', 'seed', 'normalisation', 'source_sha256', 'top1', 'ece',
            'source_format', 'backbone')


def _checkpoint_of(cfg: Any) -> Optional[str]:
    init = (((cfg.get('model') or {}).get('backbone') or {}).get('init_cfg') or {})
    if isinstance(init, dict) and init.get('type') == 'Pretrained':
        ckpt = init.get('checkpoint')
        return ckpt if isinstance(ckpt, str) else None
    return None


def read_record(work_dir: str) -> Optional[dict]:
    """The record of a work dir, or None when it has none (runs from before the hook).

    Raises:
        ValueError: The file is not the JSON object the hook writes (names the file).
    """
    path = osp.join(work_dir, RECORD_FILE)
    if not osp.isfile(path):
        return None
    try:
        with open(path, encoding='utf-8') as f:
            record = json.load(f)
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f'{path}: not valid JSON ({err}); it is written by BackboneRecordHook '
                         'when training starts') from None
    prov = record.get('provenance') if isinstance(record, dict) else None
    if not isinstance(record, dict) or not (prov is None or isinstance(prov, dict)) or \
            not isinstance(record.get('sha256'), (str, type(None))):
        raise ValueError(f'{path}: expected an object with "checkpoint", "sha256" (text) and '
                         f'"provenance" (object) as BackboneRecordHook writes it, got {record!r:.120}')
    return record


@HOOKS.register_module()
class BackboneRecordHook(Hook):
    """Write ``<work_dir>/backbone_record.json`` before the first iteration (rank 0).

    A resumed run keeps the record of the run it continues (its weights come from the run's
    own checkpoint, not from the backbone file); a new run in the same work dir replaces it.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        if not is_main_process():
            return
        resumed = bool(getattr(runner, '_resume', False))
        try:
            existing = read_record(runner.work_dir)
        except ValueError:
            existing = None  # damaged: written again below
        if resumed and existing is not None:
            return
        ckpt = _checkpoint_of(runner.cfg)
        record = dict(checkpoint=None, sha256=None, provenance=None,
                      launch=getattr(runner, 'timestamp', None), fresh_start=not resumed,
                      recorded_at=time.strftime('%Y-%m-%dT%H:%M:%S'))
        if ckpt is not None and '://' not in ckpt and osp.isfile(osp.expanduser(ckpt)):
            from ..export import sha256_of
            from ..safe_load import load_checkpoint_file
            path = osp.abspath(osp.expanduser(ckpt))
            meta = (load_checkpoint_file(path, map_location='cpu') or {}).get('meta') or {}
            prov = meta.get('kd_transfer') if isinstance(meta, dict) else None
            record.update(checkpoint=path, sha256=sha256_of(path),
                          provenance=None if not isinstance(prov, dict) else
                          {k: prov.get(k) for k in RECORDED if k in prov})
        else:
            record['checkpoint'] = ckpt
        atomic_write(osp.join(runner.work_dir, RECORD_FILE),
                     json.dumps(record, indent=1, default=str))
