"""What tools/train.py and tools/test.py share: arguments, config set-up, CPU distributed runs."""
import argparse
import os
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config, DictAction


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Arguments every OpenMMLab entry point has."""
    parser.add_argument('config', help='config file (classification, mmdet or mmseg)')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config entries, e.g. model.backbone.init_cfg.checkpoint=x.pth')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torchrun passes --local-rank (or --local_rank for older launchers)
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args: argparse.Namespace) -> Config:
    """Read the config, apply ``--cfg-options`` and fill launcher / work_dir."""
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file {args.config!r} does not exist')
    import kd_transfer  # noqa: F401  (safe checkpoint loading + registration)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        from .cfg_options import check_cfg_options
        check_cfg_options(cfg, args.cfg_options, args.config)
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    setup_cpu_distributed(cfg)
    return cfg


def setup_cpu_distributed(cfg: Config) -> None:
    """Make ``--launcher pytorch`` work on machines without a GPU.

    mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device`` unconditionally and its DDP
    wrapper passes ``device_ids=[LOCAL_RANK]``; both fail on CPU.  When no GPU is present we
    initialise a gloo process group ourselves (the Runner then skips ``init_dist``) and wrap the
    model with ``device_ids=None``.  On GPU machines nothing changes.
    """
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    import torch.distributed as dist
    if cfg.launcher != 'pytorch':
        raise RuntimeError(f'--launcher {cfg.launcher} on a machine without GPUs: only '
                           "'pytorch' (torchrun, gloo backend) is supported on CPU")
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = dict(cfg.get('model_wrapper_cfg', None) or dict(type='MMDistributedDataParallel'))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    # torch's SyncBatchNorm refuses CPU tensors once a process group exists (mmseg's configs
    # use SyncBN): fall back to per-process BatchNorm, and say so.
    if _revert_sync_bn(cfg.model) or cfg.get('sync_bn', None):
        cfg.sync_bn = None
        from mmengine.logging import print_log
        print_log('CPU distributed run: SyncBN replaced by BN (torch SyncBatchNorm needs GPUs); '
                  'batch statistics are per process', logger='current', level=30)


def _revert_sync_bn(node) -> bool:
    """Replace every ``norm_cfg`` of type SyncBN in a config tree by BN; True if any."""
    found = False
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
            found = True
        for value in node.values():
            found |= _revert_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            found |= _revert_sync_bn(value)
    return found


def build_runner(cfg: Config):
    """Build the Runner the config asks for (``runner_type``) or mmengine's default one.

    The run gets its own logger and visualizer: mmengine keeps one global instance per name,
    names the logger after the start second and mmdet / mmseg configs name their visualizer
    ``'visualizer'``, so a second run in the same process (tests, the demo, notebooks) would
    otherwise log into the first run's directory.
    """
    import time

    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    if cfg.get('experiment_name') is None:
        stem = osp.basename(str(cfg.get('work_dir', 'run')).rstrip('/'))
        cfg.experiment_name = f'{stem}_{time.strftime("%Y%m%d_%H%M%S")}_{time.time_ns() % 10**9}'
    if isinstance(cfg.get('visualizer'), dict):
        cfg.visualizer.name = cfg.experiment_name
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def enable_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper to mmengine's AmpOptimWrapper (GPU/NPU/MLU only)."""
    if not torch.cuda.is_available():
        raise RuntimeError('--amp needs a GPU: mmengine AmpOptimWrapper does not run on CPU')
    optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if optim_wrapper == 'AmpOptimWrapper':
        return
    if optim_wrapper != 'OptimWrapper':
        raise ValueError(f'--amp needs optim_wrapper.type OptimWrapper, the config has {optim_wrapper}')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def resume_from(cfg: Config, resume: Optional[str]) -> None:
    """``--resume`` alone: the work dir's newest checkpoint; ``--resume PATH``: that file
    (:func:`kd_transfer.resume.resolve_resume`, which refuses when there is none)."""
    from .resume import resolve_resume
    resolve_resume(cfg, resume)
