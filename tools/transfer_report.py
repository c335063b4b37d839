#!/usr/bin/env python
"""Turn mmengine work directories into report.md / report.csv / report.json and PNG plots.

Example::

    python tools/transfer_report.py work_dirs/ --out reports/transfer --note "CIFAR-100, 240 ep"

Each WORK_DIR may be one run directory or a parent of many (searched recursively). The logic
lives in :mod:`kd_transfer.report`.
"""
import argparse
import os.path as osp
import sys
import time

_REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('work_dirs', nargs='+', metavar='WORK_DIR',
                        help='mmengine run directory, or a directory holding many')
    parser.add_argument('--out', required=True, metavar='DIR',
                        help='output directory for report.md / .csv / .json and the plots')
    parser.add_argument('--baseline-method', default='baseline',
                        help='method whose rows the deltas refer to (default: baseline)')
    parser.add_argument('--note', default=None, metavar='TEXT',
                        help='free text for the report header, e.g. "generated data"')
    parser.add_argument('--no-published', action='store_true',
                        help="leave out the papers' top-1 column (data other than the real "
                        'CIFAR-100 / ImageNet, e.g. the generated demo data)')
    parser.add_argument('--force', action='store_true',
                        help='overwrite an existing report in --out')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    start = time.time()
    args = parse_args(argv)
    from kd_transfer.report import ReportError, build_report
    try:
        report = build_report(args.work_dirs, args.out, baseline_method=args.baseline_method,
                              note=args.note, force=args.force,
                              published=not args.no_published)
    except ReportError as err:
        print(f'transfer_report: error: {err}', file=sys.stderr)
        return 1
    for run in report.runs:
        for warning in run.warnings:
            print(f'transfer_report: warning: {warning}', file=sys.stderr)
    print(f'{len(report.runs)} runs -> {len(report.rows)} rows, '
          f'{len(report.problem_runs)} left out (listed), {len(report.plots)} gain plots, '
          f'{len(report.sweeps)} sweeps; wrote {osp.join(args.out, "report.md")} '
          f'({time.time() - start:.1f}s)')
    from kd_transfer.report.control import verdict
    line = verdict([c.to_json() for c in report.controls])
    if line:
        print(line)
    return 0


if __name__ == '__main__':
    sys.exit(main())
