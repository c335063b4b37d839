"""One metric cell of the transfer report: its values over seeds, statistics and rendering.

A :class:`Cell` holds the values of one metric of one report row (one per seed); its summary
(mean, std, n, Student t 95 % interval) and its delta against the baseline row (Welch's t
95 % interval) come from :mod:`kd_transfer.stats`. :data:`STAT_FIELDS` are the per-metric
fields of report.csv and report.json; :func:`format_cell` is the text of a report.md cell.
"""
import json
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .. import stats

MISSING = '—'
#: Marks a delta whose 95 % interval excludes 0.
SIGNIFICANT = '*'
#: Per-metric fields of report.csv (``<metric>_<field>``, ``mean`` as ``<metric>``) and of
#: the metric dicts of report.json.
STAT_FIELDS = ('mean', 'std', 'n', 'ci_low', 'ci_high', 'delta', 'delta_ci_low',
               'delta_ci_high', 'significant')


@dataclass
class Cell:
    """The values of one metric of one row.

    Attributes:
        values (list[float]): One value per run (percent).
        seeds (list): The runs' seeds.
        runs (list[str]): The runs' work dirs.
        source (str): ``'runs'``, or ``'provenance'`` when read from exported backbones.
        comparison (stats.Delta, optional): Against the baseline row, set by the report.
    """
    values: List[float] = field(default_factory=list)
    seeds: List[Optional[int]] = field(default_factory=list)
    runs: List[str] = field(default_factory=list)
    source: str = 'runs'
    comparison: Optional[stats.Delta] = None

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def summary(self) -> Optional[stats.Summary]:
        return stats.summarize(self.values) if self.values else None

    @property
    def mean(self) -> Optional[float]:
        return self.summary.mean if self.values else None

    @property
    def std(self) -> Optional[float]:
        """Sample standard deviation (n - 1), None for fewer than two runs."""
        return self.summary.std if self.values else None

    @property
    def delta(self) -> Optional[float]:
        return self.comparison.delta if self.comparison else None

    def compare(self, baseline: 'Cell') -> None:
        """Set :attr:`comparison` to this cell minus ``baseline`` (Welch's t interval)."""
        self.comparison = stats.welch(self.values, baseline.values) \
            if self.values and baseline.values else None

    def fields(self) -> Dict[str, object]:
        """The :data:`STAT_FIELDS` of this cell (None where not defined)."""
        s, d = self.summary, self.comparison
        return dict(mean=s.mean if s else None, std=s.std if s else None, n=self.n,
                    ci_low=s.ci_low if s else None, ci_high=s.ci_high if s else None,
                    delta=d.delta if d else None, delta_ci_low=d.ci_low if d else None,
                    delta_ci_high=d.ci_high if d else None,
                    significant=d.significant if d else None)

    def to_json(self) -> dict:
        d = self.comparison
        return dict(self.fields(), delta_df=d.df if d else None, delta_p=d.p if d else None,
                    delta_no_interval=d.reason if d and d.reason else None,
                    values=self.values, seeds=self.seeds, runs=self.runs, source=self.source)


def fmt(v: Optional[float], digits: int = 2) -> str:
    return MISSING if v is None or (isinstance(v, float) and math.isnan(v)) else \
        f'{v:.{digits}f}'


def fmt_value(value) -> str:
    """A provenance value in a table: JSON for dicts / lists, ``'—'`` when empty."""
    if value is None or value == '':
        return MISSING
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else str(value)


def format_cell(cell: Optional[Cell]) -> str:
    """Text of a report.md cell.

    ``'70.80 ± 0.42, n=2, CI [66.99, 74.61]<br>Δ +1.80 [0.52, 3.08] *'``; a single run reads
    ``'71.90, n=1, no interval'``; a delta without interval says why; ``'—'`` when empty;
    ``†`` marks values read from exported backbones' provenance.
    """
    if cell is None or not cell.values:
        return MISSING
    s = cell.summary
    if s.n > 1:
        text = f'{fmt(s.mean)} ± {fmt(s.std)}, n={s.n}, CI [{fmt(s.ci_low)}, {fmt(s.ci_high)}]'
    else:
        text = f'{fmt(s.mean)}, n=1, no interval'
    if cell.source == 'provenance':
        text += ' †'
    d = cell.comparison
    if d is not None:
        text += f'<br>Δ {d.delta:+.2f} '
        text += f'(no interval: {d.reason})' if d.reason else \
            f'[{d.ci_low:+.2f}, {d.ci_high:+.2f}]' + (f' {SIGNIFICANT}' if d.significant else '')
    return text


def csv_header(key: str) -> List[str]:
    """report.csv columns of one metric: ``key`` (the mean), ``key_std``, ``key_n``..."""
    return [key if f == 'mean' else f'{key}_{f}' for f in STAT_FIELDS]


def csv_values(cell: Optional[Cell]) -> List[str]:
    """report.csv values of one metric, in the order of :func:`csv_header`."""
    if cell is None:
        return ['' if f != 'n' else '0' for f in STAT_FIELDS]
    out = []
    for f, v in cell.fields().items():
        out.append('' if v is None else str(v).lower() if isinstance(v, bool) else
                   str(v) if isinstance(v, int) else f'{v:.6g}')
    return out


STATS_TEXT = (
    'A cell reads `mean ± std, n=runs, CI [low, high]`: the mean over seeds, the sample '
    'standard deviation (n - 1) and the 95 % confidence interval of the mean (Student t, '
    'n - 1 degrees of freedom). `Δ` is the change against the `{baseline}` row of the same '
    'backbone with its 95 % interval from Welch\'s t test (unequal variances, '
    'Welch–Satterthwaite degrees of freedom); `*` marks a delta whose interval excludes 0 '
    '(Welch\'s two-sided test at p < 0.05). A single run has no interval (`n=1, no interval`); '
    'a delta needs at least two runs on both sides.')
