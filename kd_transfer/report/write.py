"""Writing a report into its output directory, all or nothing, and the whole pipeline
(:func:`build_report`)."""
import datetime
import io
import json
import os
import os.path as osp
import re
import shutil
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from ..fileio import atomic_write
from .columns import REPORT_FILES, TMP_PREFIX, TRANSFER_COLUMNS, ReportError
from .identity import Run
from .render import render_csv, render_markdown, report_dict
from .runs import collect_runs
from .summary import Report, summarize


def _atomic_write(path: str, write: Callable[[Any], None], binary: bool = False) -> None:
    """Render with ``write(file)`` into memory, then write ``path`` atomically."""
    buffer = io.BytesIO() if binary else io.StringIO(newline='')
    write(buffer)
    atomic_write(path, buffer.getvalue())

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
    from .plots import plot_gain, plot_sweep  # matplotlib only when writing
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
                 date: Optional[str] = None, published: bool = True) -> Report:
    """Read the runs under ``work_dirs`` and write the report into ``out_dir``.

    Args:
        work_dirs (Sequence[str]): Run directories or parents of run directories.
        out_dir (str): Output directory.
        baseline_method (str): Method name of the undistilled rows. Defaults to 'baseline'.
        note (str, optional): Free text shown in the header (e.g. 'generated data').
        force (bool): Overwrite an existing report.
        date (str, optional): Date shown in the header; now by default.
        published (bool): Compare top-1 with the papers' numbers (off for generated data,
            whose numbers are not comparable).

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
                    work_dirs=[str(d) for d in work_dirs], note=note, published=published,
                    date=date or datetime.datetime.now().strftime('%Y-%m-%d %H:%M'))
    write_report(report, out_dir, force=force)
    return report
