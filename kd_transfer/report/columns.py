"""The report's metric columns, file names and error type (shared by its reading, summary
and rendering)."""
import re
from dataclasses import dataclass
from typing import Optional, Tuple

from . import control

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
