"""Grouping finished runs into rows (one per student), pooling seeds, deltas against the
baseline, and hyper-parameter sweeps."""
import os.path as osp
from dataclasses import dataclass, field
from itertools import combinations
from typing import Dict, List, Optional, Sequence, Tuple

from . import control, pooling
from .cells import Cell
from .columns import COLUMNS, TRANSFER_COLUMNS
from .identity import Run


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
    #: compare top-1 with the papers' numbers (off for generated data)
    published: bool = True
    date: str = ''
    plots: List[Tuple[str, str]] = field(default_factory=list)  # (title, file name)

    @property
    def controls(self) -> List[control.Control]:
        """The positive control: pretrained against scratch rows
        (:mod:`kd_transfer.report.control`)."""
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
