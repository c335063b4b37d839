"""The text of report.md, report.csv and report.json."""
import csv
import io
from typing import List, Optional, Sequence

from . import columns, control
from .cells import MISSING, STATS_TEXT, csv_header, csv_values, fmt_value, format_cell
from .cells import fmt as _fmt
from .columns import COLUMN_BY_KEY, COLUMNS, TRANSFER_COLUMNS, Column
from .published import GAP_FLAG, published_for, published_text
from .summary import Report, Row, _fmt_param



def _published(report: Report, row) -> Optional[dict]:
    """The papers' top-1 for a row, unless the report was asked to leave them out."""
    return published_for(row) if report.published else None

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
    published = [_published(report, r) for r in report.rows]
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
                          for key, _ in columns.PROVENANCE_COLUMNS] +
                         ['; '.join(run.notes) or MISSING])
    out += [_md_table(['Backbone', 'Method', 'Teacher', 'Setting', 'Task', 'Seed', 'Work dir'] +
                      [label for _, label in columns.PROVENANCE_COLUMNS] + ['Notes'], lines)
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
        info = _published(report, r) or {}
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
                   published=_published(report, r))
              for r in report.rows],
        positive_control=[c.to_json() for c in report.controls],
        missing=[r.to_json() for r in report.problem_runs],
        sweeps=[dict(backbone=s.arch, method=s.method, teacher=s.teacher, x_param=s.x_param,
                     y_param=s.y_param, x_values=s.x_values, y_values=s.y_values,
                     grids=s.grids, plot=s.plot) for s in report.sweeps],
        plots=[dict(title=t, file=f) for t, f in report.plots] +
        [dict(title=f'sweep {s.method}', file=s.plot) for s in report.sweeps if s.plot],
        runs=[r.to_json() for r in report.runs])
