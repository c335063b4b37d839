#!/usr/bin/env python
"""The whole pipeline on generated data on CPU: distil, export, transfer, report.

    python tools/demo.py [--out demo_out] [--quick] [--force]
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
                        help='replace an existing --out written by the demo')
    args = parser.parse_args(argv)
    import kd_transfer  # noqa: F401
    from kd_transfer.demo import run_demo
    run_demo(args.out, profile='quick' if args.quick else 'default', force=args.force)


if __name__ == '__main__':
    main()
