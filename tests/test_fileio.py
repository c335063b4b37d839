"""Checkpoint writes are atomic: a process killed while saving leaves the old file loadable."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

import kd_transfer  # noqa: F401
from kd_transfer.fileio import atomic_write
from kd_transfer.safe_load import load_checkpoint_file


def test_atomic_write_replaces_whole_file_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / 'sub' / 'f.txt'
    atomic_write(target, 'old')
    atomic_write(target, b'new')
    assert target.read_bytes() == b'new'
    assert os.listdir(target.parent) == ['f.txt']


def test_killed_during_mmengine_checkpoint_save_keeps_previous_checkpoint(tmp_path):
    from mmengine.runner.checkpoint import save_checkpoint
    ckpt = tmp_path / 'epoch_1.pth'
    save_checkpoint({'state_dict': {'w': torch.ones(3)}, 'meta': {'epoch': 1}}, str(ckpt))
    marker = tmp_path / 'writing'
    # The child saves a large checkpoint over the same path through mmengine's own code and is
    # SIGKILLed while the bytes are being flushed (we stop it inside os.fsync).
    child = textwrap.dedent(f'''
        import os, time, torch
        import kd_transfer
        from mmengine.runner.checkpoint import save_checkpoint
        def stuck_fsync(fd):
            open({str(marker)!r}, 'w').close()
            time.sleep(60)
        os.fsync = stuck_fsync
        save_checkpoint({{'state_dict': {{'w': torch.zeros(2_000_000)}}}}, {str(ckpt)!r})
    ''')
    proc = subprocess.Popen([sys.executable, '-c', child])
    deadline = time.time() + 60
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert marker.exists(), 'the child never reached the flush of its checkpoint write'
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = load_checkpoint_file(str(ckpt))
    assert state['meta']['epoch'] == 1 and torch.equal(state['state_dict']['w'], torch.ones(3))


def test_interrupted_write_removes_its_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / 'x.bin'
    atomic_write(target, b'keep')

    def boom(fd):
        raise KeyboardInterrupt
    monkeypatch.setattr(os, 'fsync', boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, b'lost')
    assert target.read_bytes() == b'keep' and os.listdir(tmp_path) == ['x.bin']
