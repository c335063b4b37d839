#!/usr/bin/env python
"""The whole pipeline on generated data on CPU: distil, export, transfer, report.

    python tools/demo.py [--out demo_out] [--quick] [--force] [--workers 2] [--threads 1]

Runs configs/grid/demo.py through the grid (in-process) and prints the report; rerunning on the
same --out resumes it.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--out', default='demo_out', help='output directory (default demo_out)')
    parser.add_argument('--quick', action='store_true', help='2-iteration runs (a smoke test)')
    parser.add_argument('--force', action='store_true',
                        help='start over: replace an existing --out written by the demo')
    parser.add_argument('--workers', type=int, default=2,
                        help='jobs at once, one worker process each (default 2: a 2-core machine)')
    parser.add_argument('--threads', type=int, default=1,
                        help="torch threads per run (default 1: faster for the demo's tiny "
                        'models, see kd_transfer/demo.py)')
    args = parser.parse_args(argv)
    import kd_transfer  # noqa: F401
    from kd_transfer.demo import run_demo
    run_demo(args.out, profile='quick' if args.quick else 'default', force=args.force,
             workers=args.workers, threads=args.threads)


if __name__ == '__main__':
    main()
