"""What tools/train.py and tools/test.py share: arguments, config set-up, CPU distributed runs,
the work-dir check (:func:`refuse_existing_checkpoints`)."""
import argparse
import glob
import os
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config, DictAction

from .pretrained_init import _few


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


def read_config(path: str) -> Config:
    """``Config.fromfile``, naming the config when a file it inherits is missing."""
    try:
        return Config.fromfile(path)
    except FileNotFoundError as err:
        missing = getattr(err, 'filename', None)
        if not missing or osp.abspath(missing) == osp.abspath(path):
            raise
        raise FileNotFoundError(f'config {path!r} inherits {osp.normpath(missing)!r} '
                                '(through _base_), which does not exist') from err


def load_config(args: argparse.Namespace) -> Config:
    """Read the config, apply ``--cfg-options`` and fill launcher / work_dir."""
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file {args.config!r} does not exist')
    import kd_transfer  # noqa: F401  (safe checkpoint loading + registration)
    cfg = read_config(args.config)
    if args.cfg_options:
        from .cfg_options import check_cfg_options
        check_cfg_options(cfg, args.cfg_options, args.config)
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if osp.exists(cfg.work_dir) and not osp.isdir(cfg.work_dir):
        raise NotADirectoryError(f'work dir {cfg.work_dir!r} exists and is not a directory '
                                 '(a file?): choose another --work-dir')
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if (cfg.get('randomness') or {}).get('deterministic'):
        # mmengine turns on torch.use_deterministic_algorithms; cuBLAS then needs a fixed
        # workspace, set before the first CUDA call (a no-op on CPU)
        os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
    setup_cpu_distributed(cfg)
    init_distributed_early(cfg)
    return cfg


def init_distributed_early(cfg: Config) -> None:
    """Start the process group before the Runner (which then skips its own ``init_dist``), so
    that the early checks can run once, on rank 0 (:func:`on_rank0`)."""
    import torch.distributed as dist
    if cfg.launcher == 'none' or dist.is_initialized() or not torch.cuda.is_available():
        return
    from mmengine.dist import init_dist
    try:
        init_dist(cfg.launcher, **((cfg.get('env_cfg') or {}).get('dist_cfg') or {}))
    except Exception as err:  # noqa: BLE001  re-raised, with a hint for a busy port
        _raise_port_hint(err)
        raise


def _raise_port_hint(err: Exception) -> None:
    from .ports import port_hint
    hint = port_hint(err, os.environ.get('MASTER_PORT', '?'))
    if hint:
        raise RuntimeError(hint) from err


#: Config entries an early check may change (``--on-bad-annotation skip`` redirects them).
SHARED_ENTRIES = ('train_dataloader', 'val_dataloader', 'test_dataloader', 'val_evaluator',
                  'test_evaluator')


def on_rank0(cfg: Config, check, *args, **kwargs):
    """Run ``check(cfg, *args, **kwargs)`` on rank 0 only and share its verdict.

    In a distributed run every rank would otherwise parse the same annotation files and stat
    the same images (118k of them for COCO train2017, per rank, on a shared filesystem). Rank 0
    runs the check; the other ranks receive either its error (raised again, same type and
    message) or the config entries the check changed (:data:`SHARED_ENTRIES`).

    Returns:
        What ``check`` returned on rank 0 (the same value on every rank).
    """
    import builtins

    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return check(cfg, *args, **kwargs)
    verdict, own_error = [None], None
    if dist.get_rank() == 0:
        try:
            result = check(cfg, *args, **kwargs)
            entries = {k: (cfg[k].to_dict() if hasattr(cfg[k], 'to_dict') else cfg[k])
                       for k in SHARED_ENTRIES if k in cfg}
            verdict = [('ok', result, entries)]
        except Exception as err:  # noqa: BLE001  (raised again below, on every rank)
            own_error = err
            verdict = [('error', type(err).__name__, str(err))]
    dist.broadcast_object_list(verdict, src=0)
    status, first, second = verdict[0]
    if own_error is not None:
        raise own_error
    if status == 'error':
        kind = getattr(builtins, first, None)
        if isinstance(kind, type) and issubclass(kind, Exception):
            raise kind(f'(checked on rank 0) {second}')
        raise RuntimeError(f'(checked on rank 0) {first}: {second}')
    if dist.get_rank() != 0:
        for key, value in second.items():
            cfg[key] = value
    return first


def cpus_per_task(config: str) -> int:
    """CPUs a Slurm task needs for ``config``: its training dataloader workers + the trainer."""
    cfg = Config.fromfile(config)
    loader = cfg.get('train_dataloader') or {}
    return max(2, int(loader.get('num_workers', 0) or 0) + 1)


def setup_cpu_distributed(cfg: Config) -> None:
    """Make ``--launcher pytorch`` work on machines without a GPU.

    mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device`` unconditionally and its DDP
    wrapper passes ``device_ids=[LOCAL_RANK]``; both fail on CPU.  When no GPU is present we
    initialise a gloo process group ourselves (the Runner then skips ``init_dist``) and wrap the
    model with ``device_ids=None``, but only when ``KD_DEVICE=cpu`` asks for it: without a GPU
    and without that request the run stops. On GPU machines nothing changes.
    """
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    import torch.distributed as dist
    if cfg.launcher != 'pytorch':
        raise RuntimeError(f'--launcher {cfg.launcher} on a machine without GPUs: only '
                           "'pytorch' (torchrun, gloo backend) is supported on CPU")
    if os.environ.get('KD_DEVICE', '').lower() != 'cpu':
        # a GPU node whose CUDA is invisible by accident (driver, CUDA_VISIBLE_DEVICES, a CPU
        # torch) would otherwise train on N CPU processes with per-process BatchNorm
        raise RuntimeError(
            f'--launcher {cfg.launcher}: no GPU is visible (torch {torch.__version__}, built '
            f'for CUDA {torch.version.cuda}, CUDA_VISIBLE_DEVICES='
            f'{os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")!r}). Set KD_DEVICE=cpu to run '
            'the processes on CPU (gloo backend) on purpose.')
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend='gloo')
        except Exception as err:  # noqa: BLE001  re-raised, with a hint for a busy port
            _raise_port_hint(err)
            raise
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


def refuse_existing_checkpoints(work_dir: str) -> None:
    """Refuse a new run whose checkpoints would overwrite those already in ``work_dir``."""
    found = sorted(glob.glob(osp.join(work_dir, '*.pth')))
    if osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        found.insert(0, osp.join(work_dir, 'last_checkpoint'))
    if found:
        raise FileExistsError(
            f'work dir {work_dir!r} already holds checkpoints '
            f'({_few([osp.basename(f) for f in found], 4)}) '
            'that a new run would overwrite; pass --resume to continue that run, --work-dir '
            'to start a new one elsewhere, or --force to overwrite them')
