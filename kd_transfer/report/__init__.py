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
  (:mod:`kd_transfer.report.control`).

Results are grouped into one row per student (backbone, method, teacher and, for hyper-parameter
sweeps, the swept setting), pooled over seeds only where the configs differ in nothing but the
seed (:mod:`kd_transfer.report.pooling`), summarised with 95 % intervals and compared with the
undistilled baseline of the same backbone by Welch's t (:mod:`kd_transfer.stats`,
:mod:`kd_transfer.report.cells`), and written as ``report.md``, ``report.csv``, ``report.json``
and PNG plots (:mod:`kd_transfer.report.plots`), all or nothing. A run that cannot be read is
listed with its reason; it does not stop the report.
All metrics are reported in percent (ECE too; mmdet's AP in [0, 1] is scaled by 100).

The package, by job: :mod:`.columns` (the metric columns and file names), :mod:`.reading`
(log, config and provenance files), :mod:`.identity` (what a run is), :mod:`.runs` (finding and
loading run directories), :mod:`.summary` (rows, deltas, sweeps), :mod:`.render` (report.md /
.csv / .json text), :mod:`.plots`, :mod:`.control` (the positive
control), :mod:`.write` (writing all or nothing, :func:`build_report`).
"""
from .columns import (CLASSIFIER_TYPES, COLUMN_BY_KEY, COLUMNS, DISTILLER_TYPES,
                      PROVENANCE_COLUMNS, REPORT_FILES, SCRATCH_METHOD, TIMESTAMP_RE, TMP_PREFIX,
                      TRANSFER_COLUMNS, VAL_KEYS, Column, ReportError)
from .identity import DATASET_TYPES, METRIC_TYPES, Run, arch_name
from .reading import (ScalarLog, load_config, read_provenance, read_scalars,
                      read_text_log_progress)
from .render import render_csv, render_markdown, report_dict
from .runs import collect_runs, discover_run_dirs, load_run
from .summary import Report, Row, Sweep, summarize
from .write import build_report, write_report

__all__ = [
    'CLASSIFIER_TYPES', 'COLUMN_BY_KEY', 'COLUMNS', 'DISTILLER_TYPES', 'PROVENANCE_COLUMNS',
    'REPORT_FILES', 'SCRATCH_METHOD', 'TIMESTAMP_RE', 'TMP_PREFIX', 'TRANSFER_COLUMNS',
    'VAL_KEYS', 'Column',
    'ReportError', 'DATASET_TYPES', 'METRIC_TYPES', 'Run', 'arch_name', 'ScalarLog',
    'load_config', 'read_provenance', 'read_scalars', 'read_text_log_progress', 'render_csv',
    'render_markdown', 'report_dict', 'collect_runs', 'discover_run_dirs', 'load_run', 'Report',
    'Row', 'Sweep', 'summarize', 'build_report', 'write_report'
]
