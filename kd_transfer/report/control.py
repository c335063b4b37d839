"""The positive control of a transfer report: a pretrained backbone against the same backbone
trained from random weights, in the same detector / segmenter with the same schedule.

A benchmark that reports "+0.4 AP" for a method should first show that it can detect a
difference that must exist: a backbone pretrained on the classification task transfers better
than one that starts from random weights. The grid makes that pair with ``scratch=True``
(:mod:`kd_transfer.grid.spec`); the report identifies a transfer run without a backbone
checkpoint as method ``scratch`` and this module compares, for every backbone and transfer
metric that has both, the undistilled ``baseline`` row (pretrained) with the ``scratch`` row:
``Δ = mean(pretrained) - mean(scratch)`` with Welch's 95 % interval (:func:`stats.welch`).
The control *passes* when that interval excludes 0 (and the delta is positive).
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence

from .. import stats
from .cells import MISSING, SIGNIFICANT, Cell, fmt

SCRATCH = 'scratch'

EXPLANATION = (
    'The same detector / segmenter with the same schedule, its backbone either pretrained on '
    'the classification task (the `{baseline}` row: its exported classifier) or started from '
    'random weights (`scratch`). Pretraining on a related task must help; a report that cannot '
    'show this gap cannot show a smaller one. Δ = pretrained − scratch, with the 95 % interval '
    'of Welch\'s t (unequal variances); `{mark}` and "yes": the interval excludes 0. How to '
    'read it: docs/report.md.')


@dataclass
class Control:
    """One (backbone, metric) comparison of pretrained against scratch."""
    arch: str
    key: str
    label: str
    pretrained: Cell
    scratch: Cell
    delta: stats.Delta

    @property
    def passed(self) -> bool:
        return bool(self.delta.significant) and self.delta.delta > 0

    def to_json(self) -> dict:
        d = self.delta
        return dict(backbone=self.arch, metric=self.key, label=self.label,
                    pretrained=self.pretrained.values, pretrained_seeds=self.pretrained.seeds,
                    scratch=self.scratch.values, scratch_seeds=self.scratch.seeds,
                    delta=d.delta, ci_low=d.ci_low, ci_high=d.ci_high, df=d.df, p=d.p,
                    excludes_zero=d.significant, no_interval=d.reason or None,
                    passed=self.passed)


def positive_controls(rows: Sequence, columns: Sequence, baseline_method: str) -> List[Control]:
    """Pretrained-vs-scratch comparisons of ``rows`` (report rows without setting / variant).

    Args:
        rows: The report's rows (``arch``, ``method``, ``setting``, ``variant``, ``cells``).
        columns: The transfer columns (``key``, ``label``) to compare, in order.
        baseline_method (str): Method of the pretrained, undistilled rows.

    Returns:
        list[Control]: One per backbone and metric that both rows have.
    """
    plain = {(r.arch, r.method): r for r in rows if not r.setting and not r.variant and
             r.method in (baseline_method, SCRATCH)}
    out = []
    for (arch, method), scratch in plain.items():
        base = plain.get((arch, baseline_method))
        if method != SCRATCH or base is None:
            continue
        for col in columns:
            a, b = base.cells.get(col.key), scratch.cells.get(col.key)
            if a is not None and b is not None and a.values and b.values:
                out.append(Control(arch, col.key, col.label, a, b,
                                   stats.welch(a.values, b.values)))
    return out


def _values(cell: Cell) -> str:
    return ', '.join(fmt(v, 1) for v in cell.values) + f' (mean {fmt(cell.mean)})'


def delta_text(d: stats.Delta) -> str:
    if d.reason:
        return f'{d.delta:+.2f} (no interval: {d.reason})'
    return f'{d.delta:+.2f} [{d.ci_low:+.2f}, {d.ci_high:+.2f}]' + \
        (f' {SIGNIFICANT}' if d.significant else '')


def render_markdown(controls: Sequence[Control], baseline_method: str,
                    md_table) -> List[str]:
    """Lines of report.md's positive-control section (none when there is no scratch row)."""
    if not controls:
        return []
    lines = [[c.arch, c.label, _values(c.pretrained), _values(c.scratch), delta_text(c.delta),
              'yes' if c.delta.significant else ('no' if c.delta.significant is not None
                                                 else MISSING),
              MISSING if c.delta.p is None else f'{c.delta.p:.2g}'] for c in controls]
    return ['## Positive control: pretrained vs from scratch', '',
            EXPLANATION.format(baseline=baseline_method, mark=SIGNIFICANT), '',
            md_table(['Backbone', 'Metric', f'Pretrained ({baseline_method}), per seed',
                      'Scratch, per seed', 'Δ pretrained − scratch [95 % CI]',
                      'Excludes 0', 'p (Welch)'], lines,
                     ['---', '---', '---:', '---:', '---:', '---', '---:']), '']


def verdict(controls: Sequence[dict]) -> Optional[str]:
    """One line: whether every control passes (None without controls).

    Args:
        controls: :meth:`Control.to_json` dicts (report.json's ``positive_control``).
    """
    if not controls:
        return None
    parts = [f"{c['label']} Δ " + delta_text(stats.Delta(
        c['delta'], c['ci_low'], c['ci_high'], c['df'], c['p'], c['excludes_zero'],
        c['no_interval'] or '')) for c in controls]
    ok = all(c['passed'] for c in controls)
    return ('positive control PASSED' if ok else 'positive control NOT shown') + \
        ' (pretrained − scratch, Welch 95 % interval): ' + '; '.join(parts)
