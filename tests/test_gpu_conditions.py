"""GPU-only failures reproduced on CPU (issue: the cluster path works).

* ``--resume`` on a GPU: mmengine loads the checkpoint with ``map_location='cuda'``; the random
  states stored by ``RandomStateHook`` must survive a non-CPU map location (here ``'meta'``,
  which keeps no tensor values at all) and fewer visible GPUs than at save time.
* GLD under AMP: the relation term in fp16 (CPU autocast with ``dtype=float16``).
* A job killed while writing ``last_checkpoint`` or a checkpoint: the previous state intact,
  and the dead writer's temporary file removed by the next write.
"""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import kd_transfer  # noqa: F401
from kd_transfer.hooks.random_state import get_rng_state, set_rng_state
from kd_transfer.safe_load import load_checkpoint_file

pytestmark = pytest.mark.usefixtures('one_thread', 'no_leftover_processes')

REPO = Path(__file__).resolve().parents[1]


def _draws():
    return (random.random(), float(np.random.rand()), torch.rand(3).tolist())


def test_rng_state_survives_a_non_cpu_map_location(tmp_path):
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    torch.save({'rng_state': get_rng_state()}, tmp_path / 'ckpt.pth')
    expected = _draws()
    random.seed(2), np.random.seed(2), torch.manual_seed(2)
    assert _draws() != expected
    # what mmengine does on a GPU node: map_location='cuda'. 'meta' is the device every CPU
    # build has; like 'cuda', torch.set_rng_state refuses tensors placed there.
    state = load_checkpoint_file(str(tmp_path / 'ckpt.pth'), map_location='meta')['rng_state']
    set_rng_state(state)
    assert _draws() == expected


def test_old_tensor_rng_state_is_accepted():
    """Checkpoints written before the fix hold the torch state as a ByteTensor."""
    torch.manual_seed(3)
    state = dict(python=random.getstate(), numpy=np.random.get_state(),
                 torch=torch.get_rng_state())
    expected = torch.rand(4)
    set_rng_state(state)
    assert torch.equal(torch.rand(4), expected)


def test_cuda_states_restored_for_the_visible_gpus_only(monkeypatch):
    restored = []
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    monkeypatch.setattr(torch.cuda, 'set_rng_state',
                        lambda s, device: restored.append((device, s.dtype, s.device.type)))
    state = get_rng_state()
    state['cuda'] = [np.full(16, 7, np.uint8), np.full(16, 9, np.uint8)]  # saved on 2 GPUs
    set_rng_state(state)
    assert restored == [(0, torch.uint8, 'cpu')]


def test_gld_relation_term_under_fp16_autocast():
    """1000 classes, logit std 6: row norms ~190, so the fp16 Gram matrix overflows."""
    from kd_transfer.distill.gld import relation_loss, squared_distances
    g = torch.Generator().manual_seed(0)
    s_rows = torch.randn(16, 1000, generator=g) * 6
    t_rows = torch.randn(16, 1000, generator=g) * 6
    # independent reference in float64: explicit pairwise differences
    def ref_d(r):
        r = r.double()
        return ((r[:, None, :] - r[None, :, :]) ** 2).sum(-1)
    def ref_loss(a, b):
        da, db = ref_d(a), ref_d(b)
        da = da / da.norm(dim=1, keepdim=True)
        db = db / db.norm(dim=1, keepdim=True)
        return ((db - da) ** 2).sum() / a.shape[0] ** 2
    expected = ref_loss(s_rows, t_rows)
    d_half = squared_distances(s_rows.half())   # fp16 inputs, as an AMP model gives them
    assert torch.isfinite(d_half).all()
    torch.testing.assert_close(d_half.double(), ref_d(s_rows.half().float()), rtol=1e-4, atol=1e-2)
    torch.testing.assert_close(relation_loss(s_rows.half(), t_rows.half()).double(),
                               ref_loss(s_rows.half().float(), t_rows.half().float()),
                               rtol=1e-4, atol=0)
    try:
        autocast = torch.autocast('cpu', dtype=torch.float16)
        autocast.__enter__()
    except RuntimeError:  # torch < 2.3: CPU autocast is bfloat16 only
        return
    try:
        got = relation_loss(s_rows, t_rows)  # float32 inputs, fp16 matmuls under autocast
    finally:
        autocast.__exit__(None, None, None)
    torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=0)


_TRAIN = r'''
import os, sys, time
import torch, torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner
import kd_transfer  # noqa: F401 (atomic writes)
from mmengine.hooks import checkpoint_hook

work, stall = sys.argv[1], sys.argv[2]   # stall: 'pointer' or 'checkpoint' at iteration 2

class Lin(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 1)
    def forward(self, x, mode='loss'):
        return dict(loss=self.fc(x).pow(2).mean())

def hang():
    open(os.path.join(work, 'STALLED'), 'w').close()
    time.sleep(600)

if stall == 'pointer':
    # the pointer write of iteration 2 hangs half-way: whatever ``open`` the hook uses
    # (the builtin, or kd_transfer's atomic one) is called, then its write never returns
    inner = getattr(checkpoint_hook, 'open', open)
    def slow_open(path, mode='r', *a, **k):
        f = inner(path, mode, *a, **k)
        if str(path).endswith('last_checkpoint') and os.path.exists(os.path.join(work, 'iter_2.pth')):
            write = f.write
            def stalled(text):
                hang()
            f.write = stalled
        return f
    checkpoint_hook.open = slow_open
elif stall == 'checkpoint':
    real = os.fsync
    def slow_fsync(fd):
        name = os.readlink(f'/proc/self/fd/{fd}')
        if 'iter_2.pth' in name and name.endswith('.tmp'):
            hang()
        return real(fd)
    os.fsync = slow_fsync

data = [dict(x=torch.randn(4)) for _ in range(8)]
Runner(model=Lin(), work_dir=work,
       train_dataloader=dict(dataset=data, batch_size=2, sampler=dict(type='DefaultSampler', shuffle=False),
                             collate_fn=dict(type='default_collate')),
       optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
       train_cfg=dict(by_epoch=False, max_iters=2),
       default_hooks=dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=1)),
       resume=stall == 'resume').train()
'''


def _run_until_stalled(work: Path, stall: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    proc = subprocess.Popen([sys.executable, '-c', _TRAIN, str(work), stall], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.time() + 240
        while not (work / 'STALLED').exists():
            if proc.poll() is not None:
                pytest.fail(proc.stdout.read().decode()[-3000:])
            if time.time() > deadline:
                pytest.fail('the training subprocess never reached the stalled write')
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)  # pre-emption: no handler, no cleanup
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.stdout.close()
    (work / 'STALLED').unlink()


@pytest.mark.parametrize('stall', ['pointer', 'checkpoint'])
def test_killed_write_keeps_the_previous_state_and_leaves_nothing(tmp_path, stall):
    work = tmp_path / 'work'
    work.mkdir()
    _run_until_stalled(work, stall)
    pointer = (work / 'last_checkpoint').read_text()
    assert pointer.endswith('iter_1.pth'), repr(pointer)  # not truncated, not half-new
    load_checkpoint_file(pointer)  # the checkpoint it names is whole
    if stall == 'checkpoint':
        assert not (work / 'iter_2.pth').exists()
        assert list(work.glob('.iter_2.pth.*.tmp'))  # the dead writer's leftover ...
    # ... is removed by the next run, which resumes from the pointer and finishes
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    res = subprocess.run([sys.executable, '-c', _TRAIN, str(work), 'resume'], env=env,
                         capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (work / 'last_checkpoint').read_text().endswith('iter_2.pth')
    assert not list(work.glob('.*.tmp')), sorted(p.name for p in work.iterdir())
