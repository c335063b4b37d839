"""Runner checkpoints resume with weights_only=True; anything else pickled is refused."""
import os
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from torch.utils.data import Dataset

import kd_transfer  # noqa: F401
from kd_transfer.safe_load import UnsafeCheckpointError, load_checkpoint_file


class _Points(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return dict(x=torch.randn(4, generator=g), y=torch.tensor(float(i % 2)))


class _Linear(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 1)

    def forward(self, x, y, mode='loss'):
        out = self.fc(x).squeeze(-1)
        return dict(loss=((out - y) ** 2).mean()) if mode == 'loss' else out


def _runner(work_dir, max_iters, resume=False, load_from=None):
    from mmengine.runner import Runner
    torch.manual_seed(0)  # the same initial weights for every runner
    return Runner(
        model=_Linear(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=_Points(), batch_size=2,
                              sampler=dict(type='DefaultSampler', shuffle=True, seed=0),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', by_epoch=False, milestones=[3]),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2),
                           logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0), resume=resume, load_from=load_from)


@pytest.fixture(scope='module')
def runner_ckpt(tmp_path_factory):
    work = tmp_path_factory.mktemp('runner')
    _runner(work, 4).train()  # checkpoints at iterations 2 and 4
    return work, work / 'iter_2.pth'


def test_plain_torch_load_refuses_runner_checkpoint_without_kd_transfer(runner_ckpt):
    """The failure this module fixes: stock torch 2.14 + mmengine cannot load its checkpoint."""
    _, ckpt = runner_ckpt
    code = f'import torch; torch.load({str(ckpt)!r}, weights_only=True)'
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert res.returncode != 0 and 'HistoryBuffer' in res.stderr


def test_runner_resumes_from_its_checkpoint_with_weights_only(runner_ckpt, tmp_path):
    work, ckpt = runner_ckpt
    state = load_checkpoint_file(str(ckpt))
    assert state['meta']['iter'] == 2 and 'message_hub' in state
    runner = _runner(tmp_path, 4, resume=True, load_from=str(ckpt))
    runner.train()
    assert runner.iter == 4
    # a run stopped at iteration 2 and resumed ends with the weights of the uninterrupted run
    straight = load_checkpoint_file(str(work / 'iter_4.pth'))['state_dict']
    for name, value in runner.model.state_dict().items():
        assert torch.equal(value, straight[name]), name


def test_load_from_restores_weights(runner_ckpt, tmp_path):
    _, ckpt = runner_ckpt
    runner = _runner(tmp_path, 2, load_from=str(ckpt))
    runner.load_or_resume()
    saved = load_checkpoint_file(str(ckpt))['state_dict']
    torch.testing.assert_close(runner.model.state_dict()['fc.weight'], saved['fc.weight'])


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


def test_checkpoint_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'x': _RunsCode(marker)}, evil)
    with pytest.raises(UnsafeCheckpointError, match='evil.pth') as err:
        load_checkpoint_file(str(evil))
    assert 'system' in str(err.value)  # says what was refused
    # mmengine's own loading path (what Runner.resume / load_from use) is routed through it
    from mmengine.runner.checkpoint import _load_checkpoint
    with pytest.raises(UnsafeCheckpointError):
        _load_checkpoint(str(evil), map_location='cpu')
    assert not marker.exists()


def test_getattr_is_allowed_only_for_history_buffer_methods(tmp_path):
    """The restricted getattr stand-in refuses other owners and names."""
    import pickle
    from kd_transfer.safe_load import _history_buffer_getattr
    from mmengine.logging.history_buffer import HistoryBuffer
    assert _history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError):
        _history_buffer_getattr(HistoryBuffer, '__init__')
    with pytest.raises(pickle.UnpicklingError):
        _history_buffer_getattr(os, 'system')


def test_missing_and_truncated_checkpoints_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_checkpoint_file(str(tmp_path / 'nope.pth'))
    good = tmp_path / 'good.pth'
    torch.save({'w': torch.randn(100, 100)}, good)
    bad = tmp_path / 'truncated.pth'
    bad.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(RuntimeError, match='truncated.pth'):
        load_checkpoint_file(str(bad))
