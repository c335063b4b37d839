"""Issue 7, item 5 (last bullet): a NaN / Inf loss stops training with the iteration and the
loss term, and the last good checkpoint stays the last checkpoint.

``FiniteLossHook`` comes with every classification config (configs/_base_/cls/runtime.py);
mmdet / mmseg configs add ``custom_hooks = [dict(type='FiniteLossHook')]``.
"""
import math

import pytest
import torch
from mmengine.config import Config

from kd_transfer.hooks.finite_loss import FiniteLossHook, NonFiniteLossError
from kd_transfer.safe_load import load_checkpoint_file

pytestmark = pytest.mark.usefixtures('one_thread', 'no_leftover_processes')


def kd_runner(cls_config, tmp_path, monkeypatch, value: float, custom_hooks=None):
    """KD resnet14 -> resnet8, 6 iterations (one pass over 24 images: mmengine sleeps 2 s
    when it restarts a dataloader), a checkpoint every 2; ``loss_kd`` is multiplied by
    ``value`` (nan / inf) at iteration 4 only, as a diverging run would produce it."""
    from mmengine.runner import Runner

    from kd_transfer.distill.kd import KDLoss
    cfg = Config.fromfile(str(cls_config(method='kd', iters=6, num_images=24,
                                         checkpoint_interval=2)))
    assert dict(type='FiniteLossHook') in cfg.custom_hooks  # from configs/_base_/cls/runtime.py
    if custom_hooks is not None:
        cfg.custom_hooks = custom_hooks
    cfg.work_dir = str(tmp_path / 'work')
    forward, calls = KDLoss.forward, []

    def diverging(self, *args, **kwargs):
        terms = forward(self, *args, **kwargs)
        calls.append(1)
        return {k: v * value for k, v in terms.items()} if len(calls) == 4 else terms

    monkeypatch.setattr(KDLoss, 'forward', diverging)
    return Runner.from_cfg(cfg)


@pytest.mark.parametrize('value', [float('nan'), float('inf')], ids=['nan', 'inf'])
def test_non_finite_loss_stops_with_iteration_and_term(cls_config, tmp_path, monkeypatch, value):
    runner = kd_runner(cls_config, tmp_path, monkeypatch, value)
    work = tmp_path / 'work'
    with pytest.raises(NonFiniteLossError, match=rf'non-finite loss at iteration 4 \(epoch 1, '
                                                 rf'batch 3\): loss_kd={value}\. .*the last good '
                                                 rf'checkpoint is {work}/iter_2\.pth'):
        runner.train()
    assert not (work / 'iter_4.pth').exists()
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'iter_2.pth')
    good = load_checkpoint_file(str(work / 'iter_2.pth'))
    assert good['meta']['iter'] == 2
    assert all(bool(torch.isfinite(v).all()) for v in good['state_dict'].values()
               if v.is_floating_point())


def test_control_without_the_hook_the_nan_weights_are_checkpointed(cls_config, tmp_path,
                                                                    monkeypatch):
    """What the hook prevents: mmengine trains on and writes iter_4.pth (and the following
    checkpoints) full of NaN, and ``last_checkpoint`` points at the last of them."""
    runner = kd_runner(cls_config, tmp_path, monkeypatch, float('nan'), custom_hooks=[])
    runner.train()
    work = tmp_path / 'work'
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'iter_6.pth')
    bad = load_checkpoint_file(str(work / 'iter_4.pth'))['state_dict']
    assert math.isnan(bad['student.backbone.conv1.weight'].sum())


def test_checkpoint_with_non_finite_weights_is_not_written():
    """A finite loss can still leave NaN weights (an overflowing gradient): the hook's
    ``before_save_checkpoint`` refuses the save, naming the tensor."""
    from types import SimpleNamespace
    runner = SimpleNamespace(iter=8, epoch=1, work_dir='/nonexistent')
    ckpt = {'state_dict': {'fc.weight': torch.zeros(2), 'fc.bias': torch.tensor([0., float('inf')]),
                           'bn.num_batches_tracked': torch.tensor(3)}}
    with pytest.raises(NonFiniteLossError, match=r"checkpoint at iteration 8.*'fc\.bias' holds "
                                                 'NaN/Inf; no checkpoint had been written yet'):
        FiniteLossHook().before_save_checkpoint(runner, ckpt)
    ckpt['state_dict']['fc.bias'] = torch.zeros(2)
    FiniteLossHook().before_save_checkpoint(runner, ckpt)


def test_only_loss_terms_are_checked_and_every_rank_stops(monkeypatch):
    """mmseg's ``decode.acc_seg`` is NaN for a crop whose pixels are all ignored: not a loss.
    In a distributed run a rank whose own losses are finite stops with the others."""
    from types import SimpleNamespace
    runner = SimpleNamespace(iter=2, epoch=0, work_dir='/nonexistent')
    finite = {'loss': torch.tensor(1.0), 'decode.loss_ce': torch.tensor(1.0),
              'decode.acc_seg': torch.tensor(float('nan'))}
    FiniteLossHook().after_train_iter(runner, 2, outputs=finite)

    def another_rank_had_nan(flag, op=None):
        flag.fill_(1.0)
    dist = torch.distributed
    monkeypatch.setattr(dist, 'is_initialized', lambda: True)
    monkeypatch.setattr(dist, 'get_world_size', lambda: 2)
    monkeypatch.setattr(dist, 'all_reduce', another_rank_had_nan)
    with pytest.raises(NonFiniteLossError, match=r'iteration 3 .*: on another rank \(this rank: '
                                                 r'loss=1, decode\.loss_ce=1\)'):
        FiniteLossHook().after_train_iter(runner, 2, outputs=finite)


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_hook_is_found_from_mmdet_and_mmseg_configs(scope):
    """``custom_hooks = [dict(type='FiniteLossHook')]`` works in detection / segmentation
    configs: their registries fall back to the root one."""
    import importlib

    from mmengine.registry import DefaultScope
    hooks = importlib.import_module(f'{scope}.registry').HOOKS
    with DefaultScope.overwrite_default_scope(scope):
        assert isinstance(hooks.build(dict(type='FiniteLossHook')), FiniteLossHook)


def test_all_finite_flags_every_nan_and_inf_like_isfinite():
    """The per-step teacher flag (a float32 sum per tensor) agrees with isfinite(t).all()."""
    from kd_transfer.hooks.finite_loss import all_finite
    base = torch.randn(2, 3, 8, 8)
    cases = []
    for value, where in ((float('nan'), (0, 0, 0, 0)), (float('inf'), (1, 2, 7, 7)),
                         (float('-inf'), (0, 1, 3, 4))):
        t = base.clone()
        t[where] = value
        cases.append(t)
    both = base.clone()
    both[0, 0, 0, 0], both[1, 1, 1, 1] = float('inf'), float('-inf')  # sum: NaN
    cases += [base, both]
    # half precision: 4 x 60000 overflows a float16 sum, not the float32 accumulation
    cases.append(torch.full((4,), 60000.0, dtype=torch.float16))
    cases.append(torch.tensor([1.0, float('nan')], dtype=torch.bfloat16))
    for t in cases:
        assert bool(all_finite({'stages': [torch.ones(2), t], 'logits': torch.zeros(3)})) == \
            bool(torch.isfinite(t).all()), t.flatten()[:4]
    assert all_finite({'labels': torch.arange(3)}) is None  # no floating-point tensor
