#!/usr/bin/env python
"""Evaluate a checkpoint with any kd_transfer config (classification, mmdet or mmseg).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options k=v ...]
                         [--launcher none|pytorch|slurm]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from kd_transfer.datasets.config_checks import check_datasets, check_not_empty  # noqa: E402
from kd_transfer.launch import (add_common_args, build_runner, load_config,  # noqa: E402
                                on_rank0)
from kd_transfer.strict_load import add_strict_load_hook  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    add_common_args(parser)
    parser.add_argument('checkpoint', help='checkpoint to evaluate')
    parser.add_argument('--out', help='dump the raw predictions to this pickle file')
    parser.add_argument('--on-bad-annotation', choices=['fail', 'skip'], default='fail',
                        help='malformed VOC XML / COCO JSON entries: stop (fail) or skip them')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint!r} does not exist')
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    add_strict_load_hook(cfg)  # a checkpoint of another model is refused, not scored
    if args.out is not None:
        if osp.exists(args.out):
            raise FileExistsError(f'--out {args.out!r} exists; choose a new name')
        cfg.test_evaluator = [*cfg.test_evaluator] if isinstance(cfg.test_evaluator, list) \
            else [cfg.test_evaluator]
        cfg.test_evaluator.append(dict(type='DumpResults', out_file_path=args.out))
    on_rank0(cfg, check_datasets, ('test_dataloader', ), args.on_bad_annotation)
    runner = build_runner(cfg)
    check_not_empty(runner, ('test_dataloader', ))  # an empty test set: ZeroDivisionError later
    runner.test()


if __name__ == '__main__':
    main()
