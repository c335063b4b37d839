#!/usr/bin/env python
"""Train any kd_transfer config: classification distillation, mmdet or mmseg transfer.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT] [--allow-model-change]]
                          [--amp] [--force]
                          [--auto-scale-lr | --no-auto-scale-lr]
                          [--on-bad-annotation fail|skip]
                          [--cfg-options k=v ...] [--launcher none|pytorch|slurm]
"""
import argparse
import os.path as osp
import sys

if __name__ == '__main__':  # CPU runs: glibc malloc settings, read at process start (KD_MALLOC)
    sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # also when run through runpy
    from allocator_env import reexec_with_steady_malloc
    reexec_with_steady_malloc()

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout too

from kd_transfer.batch_lr import apply_lr_policy  # noqa: E402
from kd_transfer.datasets.config_checks import check_datasets, check_not_empty  # noqa: E402
from kd_transfer.launch import (add_common_args, build_runner, enable_amp,  # noqa: E402
                                load_config, on_rank0, refuse_existing_checkpoints)
from kd_transfer.resume import resolve_resume  # noqa: E402
from kd_transfer.resume_config import check_resume_config  # noqa: E402
from kd_transfer.strict_load import add_strict_load_hook  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    add_common_args(parser)
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        help='resume from CKPT; without a path: the checkpoint last_checkpoint '
                        'names, else the highest-numbered epoch_N.pth / iter_N.pth of the work '
                        'dir (an error if there is none)')
    parser.add_argument('--allow-model-change', action='store_true',
                        help='with --resume: continue although model differs from the config '
                        'dumped in the work dir (otherwise an error; other keys only warn)')
    parser.add_argument('--amp', action='store_true', help='mixed precision (GPU only)')
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument('--auto-scale-lr', dest='auto_scale_lr', action='store_true', default=None,
                       help='scale the lr by (total batch / auto_scale_lr.base_batch_size); the '
                       'default of every shipped config')
    scale.add_argument('--no-auto-scale-lr', dest='auto_scale_lr', action='store_false',
                       help="keep the config's lr whatever the total batch")
    parser.add_argument('--force', action='store_true',
                        help='start a new run in a work dir that already holds checkpoints '
                        '(they are overwritten)')
    parser.add_argument('--on-bad-annotation', choices=['fail', 'skip'], default='fail',
                        help='malformed VOC XML / COCO JSON entries: stop with the list (fail), '
                        'or train without them and log how many were skipped (skip)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = load_config(args)
    if args.amp:
        enable_amp(cfg)
    apply_lr_policy(cfg, args.auto_scale_lr)
    resolve_resume(cfg, args.resume)
    add_strict_load_hook(cfg)
    if not (cfg.get('resume', False) or args.force):
        refuse_existing_checkpoints(cfg.work_dir)
    on_rank0(cfg, check_datasets, ('train_dataloader', 'val_dataloader'), args.on_bad_annotation)
    # after the checks (--on-bad-annotation skip redirects ann_file as the last launch did),
    # before the runner (which replaces the dumped config)
    check_resume_config(cfg, args.allow_model_change)
    runner = build_runner(cfg)
    check_not_empty(runner, ('train_dataloader', 'val_dataloader'))
    runner.train()


if __name__ == '__main__':
    main()
