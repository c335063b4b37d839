"""Safe loading is the same on every supported torch (2.1 ... 2.14).

torch >= 2.4 extends its own weights-only unpickler (``add_safe_globals``); torch 2.1 - 2.3
have no such call, so kd_transfer loads through its restricted pickle module there. Both
paths are exercised here on the installed torch (``restricted=True`` forces the old-torch
path); ``make test-stack TORCH=2.1.2`` runs this file on a real torch 2.1.
"""
import collections
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

import kd_transfer  # noqa: F401
from kd_transfer.safe_load import HAS_SAFE_GLOBALS, UnsafeCheckpointError, safe_torch_load

REPO = Path(__file__).resolve().parents[1]
PATHS = [pytest.param(True, id='restricted-pickle'),
         pytest.param(False, id='torch-weights-only',
                      marks=pytest.mark.skipif(not HAS_SAFE_GLOBALS,
                                               reason='torch < 2.4 has no add_safe_globals'))]


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, 'w'))


class _HugeBytes:
    def __reduce__(self):
        return (bytes, (10 ** 12,))  # would allocate 1 TB if bytes() were allowed as such


def _honest_checkpoint(path):
    """What mmengine's Runner writes, including the objects that were refused before:
    an empty HistoryBuffer and empty numpy arrays (an empty ``bytes`` pickles as
    ``builtins.bytes()`` under torch's pickle protocol 2)."""
    hub = MessageHub('safe_load_range')
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/loss', 0.5)
    state = hub.state_dict()
    state['log_scalars']['val/unused'] = HistoryBuffer()  # never updated: empty arrays
    torch.save({'meta': {'epoch': 3, 'seed': 0, 'dataset_meta': {'classes': ('a', 'b')}},
                'state_dict': {'w': torch.arange(6.).reshape(2, 3),
                               'b': torch.zeros(0, dtype=torch.float16)},
                'message_hub': state,
                'arrays': [np.zeros(0), np.zeros((0, 3), np.float32), np.arange(4),
                           np.float64(2.5), np.dtype('int16')],
                'counts': collections.Counter(a=2)}, path)  # the message hub holds a Counter
    return path


@pytest.mark.parametrize('restricted', PATHS)
def test_honest_runner_checkpoint_loads(tmp_path, restricted):
    ckpt = safe_torch_load(_honest_checkpoint(tmp_path / 'honest.pth'), 'cpu',
                           restricted=restricted)
    assert ckpt['meta']['epoch'] == 3 and ckpt['meta']['dataset_meta']['classes'] == ('a', 'b')
    assert torch.equal(ckpt['state_dict']['w'], torch.arange(6.).reshape(2, 3))
    assert ckpt['state_dict']['b'].dtype == torch.float16 and ckpt['state_dict']['b'].numel() == 0
    loss = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(loss, HistoryBuffer) and loss.mean() == pytest.approx(1.0)
    empty = ckpt['message_hub']['log_scalars']['val/unused']
    assert isinstance(empty, HistoryBuffer) and len(empty.data[0]) == 0
    a0, a1, a2, scalar, dtype = ckpt['arrays']
    assert a0.shape == (0,) and a1.shape == (0, 3) and a1.dtype == np.float32
    assert a2.tolist() == [0, 1, 2, 3] and scalar == 2.5 and dtype == np.dtype('int16')
    assert ckpt['counts'] == collections.Counter(a=2)


@pytest.mark.parametrize('restricted', PATHS)
def test_crafted_checkpoints_are_refused(tmp_path, restricted):
    marker = tmp_path / 'ran'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'x': _Payload(marker)}, evil)
    with pytest.raises(pickle.UnpicklingError, match='io.open|builtins.open'):
        safe_torch_load(evil, 'cpu', restricted=restricted)
    assert not marker.exists()
    huge = tmp_path / 'huge.pth'
    torch.save({'x': _HugeBytes()}, huge)
    with pytest.raises(pickle.UnpicklingError, match='bytes'):
        safe_torch_load(huge, 'cpu', restricted=restricted)


def test_torch_without_add_safe_globals_imports_and_resumes(tmp_path):
    """torch 2.1 - 2.3 lack ``torch.serialization.add_safe_globals``: ``import kd_transfer``
    raised AttributeError there. Emulated by deleting the attribute before the import (after
    torch's own modules that call it have been imported); the
    checkpoint then loads through the restricted path, and a crafted one is still refused."""
    honest = _honest_checkpoint(tmp_path / 'honest.pth')
    evil = tmp_path / 'evil.pth'
    torch.save({'x': _Payload(tmp_path / 'ran')}, evil)
    code = f'''
import torch, torch.serialization as ts
import torch.distributed.tensor, torch._dynamo, torchvision  # torch itself calls it on import
if hasattr(ts, 'add_safe_globals'):
    del ts.add_safe_globals
import kd_transfer
from kd_transfer import safe_load
assert not safe_load.HAS_SAFE_GLOBALS
ckpt = safe_load.load_checkpoint_file({str(honest)!r})
assert ckpt['meta']['epoch'] == 3
from mmengine.runner.checkpoint import _load_checkpoint   # mmengine's own path
assert _load_checkpoint({str(honest)!r}, map_location='cpu')['meta']['epoch'] == 3
try:
    safe_load.load_checkpoint_file({str(evil)!r})
except safe_load.UnsafeCheckpointError as err:
    print('refused:', err)
'''
    env = dict(os.environ, PYTHONPATH=str(REPO), TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD='1')
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert 'refused:' in res.stdout and 'could run arbitrary code' in res.stdout
    assert not (tmp_path / 'ran').exists()


def test_load_checkpoint_file_names_the_refused_global(tmp_path):
    evil = tmp_path / 'evil.pth'
    torch.save({'x': _Payload(tmp_path / 'ran')}, evil)
    from kd_transfer.safe_load import load_checkpoint_file
    with pytest.raises(UnsafeCheckpointError, match=r'evil\.pth.*open'):
        load_checkpoint_file(str(evil))
