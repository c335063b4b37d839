"""Shared pieces of the tests (also imported by their training subprocesses).

* :class:`RunsCode`: an object whose unpickling creates a marker file (a crafted checkpoint);
* :func:`write_cls_config`: a classification distillation config shrunk to seconds on the
  synthetic CIFAR-100 data (``_base_`` = a real ``configs/distill/cifar100/*.py`` file);
* :func:`start_tool` / :func:`start_command`: ``tools/*.py`` (or a shell script) in a
  subprocess with one thread, in its own session (:func:`kill_leftovers` cleans up);
* :func:`free_port`: a TCP port for torchrun's rendezvous in multi-process tests;
* ``python -m kd_transfer.testing.helpers stall-after-checkpoint MARKER STEP tools/train.py ARGS``:
  train, and after checkpoint ``STEP`` has been written (``last_checkpoint`` included) touch
  ``MARKER`` and hang, so that the test can SIGKILL the run at that exact point;
* ``HardeningFrozenBNHook``: keeps every BatchNorm in eval mode (the distributed test).
"""
import os
import os.path as osp
import runpy
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for torchrun's rendezvous in multi-process tests)."""
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class RunsCode:
    """Unpickling this creates ``marker`` (``open(marker, 'w')``): a crafted payload."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def write_cls_config(path, cifar_root, teacher_ckpt, method='fitnets', iters=None, epochs=2,
                     num_images=12, batch_size=4, lr=None, deterministic=True, extra='',
                     augment=True, shuffle=True, checkpoint_interval=1):
    """A tiny resnet14 -> resnet8 distillation config on the synthetic CIFAR-100.

    Args:
        path: Where to write the config.
        cifar_root: Directory holding ``cifar-100-python/``.
        teacher_ckpt: A resnet14 ``KDClassifier`` checkpoint.
        method (str): ``configs/distill/cifar100/<method>_resnet56_resnet20.py`` is the base.
        iters (int, optional): Iteration-based loop of that many iterations; else ``epochs``.
        num_images (int): Training images (``indices``).
        checkpoint_interval (int): Checkpoint every N epochs / iterations.
    """
    by_epoch = iters is None
    loop = (f'dict(_delete_=True, by_epoch=True, max_epochs={epochs})' if by_epoch else
            f"dict(_delete_=True, type='IterBasedTrainLoop', max_iters={iters})")
    sched = (f"[dict(type='MultiStepLR', by_epoch=True, milestones=[1], gamma=0.1)]" if by_epoch
             else f"[dict(type='MultiStepLR', by_epoch=False, milestones=[{max(iters - 1, 1)}], "
             'gamma=0.1)]')
    lr_line = '' if lr is None else f'optim_wrapper = dict(optimizer=dict(lr={lr}))\n'
    text = f'''\
_base_ = {str(REPO / 'configs/distill/cifar100' / f'{method}_resnet56_resnet20.py')!r}
model = dict(student=dict(backbone=dict(depth=8)), teacher=dict(backbone=dict(depth=14)),
             teacher_checkpoint={str(teacher_ckpt)!r})
train_dataloader = dict(
    batch_size={batch_size}, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle={shuffle}),
    dataset=dict(data_root={str(cifar_root)!r}, indices={num_images}, augment={augment}))
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                       dataset=dict(data_root={str(cifar_root)!r}, indices=4))
test_evaluator = dict(type='ClsCalibMetric')
train_cfg = {loop}
param_scheduler = {sched}
default_hooks = dict(
    checkpoint=dict(_delete_=True, type='CheckpointHook', by_epoch={by_epoch},
                    interval={checkpoint_interval}),
    logger=dict(interval=1))
log_processor = dict(by_epoch={by_epoch})
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0, deterministic={deterministic})
auto_scale_lr = dict(enable=True, base_batch_size={batch_size})  # the test's lr is for its batch
{lr_line}{extra}'''
    Path(path).write_text(text)
    return Path(path)


def load_tool(name: str):
    """``tools/<name>.py`` imported as a module (to call its ``main(argv)`` in-process)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(f'kd_transfer_test_tool_{name}',
                                                  REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tool_env(**extra) -> dict:
    """Environment of a tool subprocess: one thread, this repository's kd_transfer imported."""
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join([str(REPO), env.get('PYTHONPATH', '')])
    env.update(extra)
    return env


def start_tool(args, log_path, **env):
    """Start ``python ARGS`` (e.g. ``[tools/train.py, cfg, ...]``) with output to ``log_path``."""
    return start_command([PYTHON, *args], log_path, **env)


#: Processes started by the tests (their own session each), killed by ``kill_leftovers``.
STARTED = []


def start_command(cmd, log_path, **env):
    """Start ``cmd`` in the repository with :func:`tool_env`, output to ``log_path``."""
    with open(log_path, 'w') as log:
        proc = subprocess.Popen([str(c) for c in cmd], cwd=str(REPO), env=tool_env(**env),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    STARTED.append(proc)
    return proc


def kill_leftovers() -> None:
    """SIGKILL the process group of every started process that is still running (a test
    that failed half-way must not leave a stalled trainer or torchrun workers behind)."""
    import signal
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


def finish(proc, log_path, timeout=240):
    """Wait for a started tool; fail with its log tail if it did not succeed."""
    rc = proc.wait(timeout=timeout)
    if rc != 0:
        raise AssertionError(f'{proc.args} exited with {rc}:\n' +
                             Path(log_path).read_text()[-3000:])


def wait_for(path, proc, timeout=240):
    """Wait until ``path`` exists (the child reached its stall point)."""
    deadline = time.time() + timeout
    while not osp.exists(path):
        if proc.poll() is not None:
            raise AssertionError(f'{proc.args} ended (rc {proc.returncode}) before {path}')
        if time.time() > deadline:
            raise AssertionError(f'timeout waiting for {path}')
        time.sleep(0.05)


def _register_frozen_bn_hook():
    import torch.nn as nn
    from mmengine.hooks import Hook
    from mmengine.registry import HOOKS

    @HOOKS.register_module(force=True)
    class HardeningFrozenBNHook(Hook):
        """Every BatchNorm in eval mode before each training iteration (running statistics
        are used and never updated, so each sample's forward is independent of the batch)."""

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            model = getattr(runner.model, 'module', runner.model)
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()

    return HardeningFrozenBNHook


HardeningFrozenBNHook = _register_frozen_bn_hook()


def _stall_after_checkpoint(marker: str, step: int, argv) -> None:
    from mmengine.hooks import CheckpointHook
    original = CheckpointHook._save_checkpoint_with_step

    def save_then_stall(self, runner, at, meta):
        original(self, runner, at, meta)  # writes the checkpoint and last_checkpoint
        if at == step:
            Path(marker).touch()
            time.sleep(600)  # the test SIGKILLs us here

    CheckpointHook._save_checkpoint_with_step = save_then_stall
    sys.argv = [str(argv[0]), *argv[1:]]
    runpy.run_path(str(argv[0]), run_name='__main__')


if __name__ == '__main__':
    if sys.argv[1] == 'stall-after-checkpoint':
        _stall_after_checkpoint(sys.argv[2], int(sys.argv[3]), sys.argv[4:])
    else:
        raise SystemExit(f'unknown command {sys.argv[1]!r}')
