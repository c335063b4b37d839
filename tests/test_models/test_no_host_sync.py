"""Issue 16: the distillation step (Distiller loss + backward + SGD step) and FiniteLossHook
never wait for the device: no host synchronisation per step.

Counted on the CPU with a dispatch mode that sees every ATen op, including those of the
backward pass: ``_local_scalar_dense`` (what ``.item()``, ``float()``, ``bool()``, ``int()``
of a tensor run) and the ops whose output shape depends on the data (``nonzero``,
``masked_select``, ``unique``, indexing with a boolean mask: a GPU must tell the host the
size first); plus the Python-level
``Tensor.tolist`` / ``.cpu`` / ``.numpy``. Tiny models: resnet8 -> resnet14 on 4 images 32 x 32.
"""
from types import SimpleNamespace

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS
from torch.utils._python_dispatch import TorchDispatchMode

import kd_transfer  # noqa: F401
from kd_transfer.datasets.cls_sample import ClsDataSample
from kd_transfer.hooks.finite_loss import FiniteLossHook, NonFiniteLossError

SYNCING_OPS = ('_local_scalar_dense', 'nonzero', 'masked_select', '_unique', 'unique_',
               'repeat_interleave')
PP = dict(type='ImgDataPreprocessor', mean=[129.3, 124.1, 112.4], std=[68.2, 65.4, 70.4])
METHODS = {
    'kd': dict(type='KDLoss'),
    'fitnets': dict(type='FitNetsLoss', hint_layer=2),
    'at': dict(type='ATLoss'),
    'dkd': dict(type='DKDLoss', warmup=0),
    'reviewkd': dict(type='ReviewKDLoss', warmup=0),
    'gld': dict(type='GLDLoss'),
    'focal_kd': dict(type='FocalCalibKDLoss'),
}


class SyncCounter(TorchDispatchMode):
    """Record the ATen ops (and Python tensor methods) that make the host wait."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if any(name.startswith(op) for op in SYNCING_OPS):
            self.seen.append(name)
        elif name == 'index' and any(isinstance(i, torch.Tensor) and i.dtype == torch.bool
                                     for i in args[1]):
            self.seen.append('index with a boolean mask')
        return func(*args, **(kwargs or {}))


@pytest.fixture
def counting(monkeypatch):
    counter = SyncCounter()
    for method in ('tolist', 'cpu', 'numpy'):
        original = getattr(torch.Tensor, method)

        def spy(self, *a, _original=original, _name=method, **k):
            counter.seen.append(_name)
            return _original(self, *a, **k)
        monkeypatch.setattr(torch.Tensor, method, spy)
    return counter


def _data(n=4):
    g = torch.Generator().manual_seed(0)
    samples = []
    for i in range(n):
        s = ClsDataSample()
        s.set_field(torch.tensor([i * 7 % 100]), 'gt_label')
        samples.append(s)
    return dict(inputs=torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8),
                data_samples=samples)


@pytest.mark.parametrize('method', list(METHODS))
def test_distillation_step_has_no_host_sync(method, counting):
    model = MODELS.build(dict(
        type='Distiller', distill_losses=[METHODS[method]],
        student=dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=8),
                     data_preprocessor=PP),
        teacher=dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=14),
                     data_preprocessor=PP))).train()
    assert model.shared_input  # same normalisation: the batch is normalised once
    optim = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)))
    data = _data()
    model.train_step(data, optim)  # first step: lazy state (momentum buffers)
    with counting:
        log_vars = model.train_step(data, optim)
    assert counting.seen == [], f'{method}: host synchronisations {counting.seen}'
    assert all(torch.isfinite(v).all() for v in log_vars.values())


def test_counter_sees_a_sync():
    """Control: the counter catches ``.item()``, a boolean mask and ``masked_select``."""
    counter = SyncCounter()
    x = torch.arange(4.0)
    with counter:
        x.sum().item()
        x[x > 1].sum()
        torch.masked_select(x, x > 2)
    assert counter.seen == ['_local_scalar_dense', 'index with a boolean mask', 'masked_select']


def test_finite_loss_hook_reads_flags_every_n_iterations_and_names_the_first_bad(counting):
    """With ``check_interval=3`` the hook reads the device flags once per 3 iterations; a NaN
    at iteration 2 is reported at the read of iteration 3 as iteration 2 (its values)."""
    hook = FiniteLossHook(check_interval=3)
    runner = SimpleNamespace(iter=0, epoch=0, work_dir='/nonexistent', model=None, hooks=[])
    losses = [1.0, float('nan'), 2.0]
    with counting:
        for i, v in enumerate(losses[:2]):
            runner.iter = i
            hook.after_train_iter(runner, i, outputs={'loss': torch.tensor(v),
                                                      'loss_kd': torch.tensor(v)})
    assert counting.seen == []
    runner.iter = 2
    with pytest.raises(NonFiniteLossError, match=r'non-finite loss at iteration 2 \(epoch 1, '
                                                 r'batch 1\): loss_kd=nan\.'):
        hook.after_train_iter(runner, 2, outputs={'loss': torch.tensor(2.0)})


def test_finite_loss_hook_checks_pending_flags_before_a_checkpoint():
    hook = FiniteLossHook(check_interval=50)
    runner = SimpleNamespace(iter=4, epoch=0, work_dir='/nonexistent', model=None, hooks=[])
    hook.after_train_iter(runner, 4, outputs={'loss_ce': torch.tensor(float('inf'))})
    with pytest.raises(NonFiniteLossError, match=r'iteration 5 .*loss_ce=inf'):
        hook.before_save_checkpoint(runner, {'state_dict': {}})
