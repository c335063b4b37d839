"""The learning rate at the real total batch: printed, scaled by default, refused when unscaled."""
import pytest
import torch
from mmengine.config import Config

from kd_transfer.batch_lr import apply_lr_policy


def _cfg(batch, lr, base, enable=True):
    return Config(dict(train_dataloader=dict(batch_size=batch),
                       optim_wrapper=dict(optimizer=dict(type='SGD', lr=lr)),
                       auto_scale_lr=dict(enable=enable, base_batch_size=base)))


def test_imagenet_recipe_on_one_process_is_scaled_and_printed():
    lines = []
    cfg = _cfg(32, 0.1, 256)  # the ImageNet recipe: 8 GPUs x 32 at lr 0.1, here 1 x 32
    assert apply_lr_policy(cfg, None, lines.append) == pytest.approx(0.0125)  # 0.1 * 32 / 256
    assert cfg.auto_scale_lr.enable is True
    assert lines == ['[kd_transfer] total batch 1 x 32 = 32 (recipe: 256); lr 0.1 -> 0.0125 '
                     "(linear scaling x0.125; --no-auto-scale-lr keeps the config's lr)"]


def test_recipe_batch_keeps_the_lr():
    lines = []
    assert apply_lr_policy(_cfg(64, 0.05, 64), None, lines.append) == 0.05
    assert 'lr 0.05 as in the recipe' in lines[0]


def test_upstream_enable_false_is_still_scaled_by_default():
    """mmdet's configs ship auto_scale_lr=dict(enable=False, base_batch_size=16): a run on 4
    GPUs x 2 images would silently train at twice the recipe's lr per sample."""
    lines = []
    cfg = _cfg(2, 0.02, 16, enable=False)
    assert apply_lr_policy(cfg, None, lines.append) == pytest.approx(0.0025)  # 0.02 * 2 / 16
    assert cfg.auto_scale_lr.enable is True and '0.02 -> 0.0025' in lines[0]


def test_no_auto_scale_lr_keeps_the_lr_on_purpose():
    lines = []
    cfg = _cfg(16, 0.05, 64)
    assert apply_lr_policy(cfg, False, lines.append) == 0.05
    assert cfg.auto_scale_lr.enable is False and 'kept (--no-auto-scale-lr)' in lines[0]


def test_auto_scale_lr_needs_a_recipe_batch():
    cfg = Config(dict(train_dataloader=dict(batch_size=2),
                      optim_wrapper=dict(optimizer=dict(lr=0.01))))
    with pytest.raises(KeyError, match='base_batch_size'):
        apply_lr_policy(cfg, True, print)


def test_mmengine_applies_the_decided_scaling(tmp_path):
    """What the runner then trains with: SGD lr 0.05 * 16 / 64 = 0.0125."""
    import torch.nn as nn
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Lin(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 1)

        def forward(self, x, mode='loss'):
            return dict(loss=self.fc(x).pow(2).mean())

    cfg = _cfg(16, 0.05, 64)
    apply_lr_policy(cfg, None, print)
    runner = Runner(model=Lin(), work_dir=str(tmp_path),
                    train_dataloader=dict(dataset=[dict(x=torch.ones(2))] * 16, batch_size=16,
                                          sampler=dict(type='DefaultSampler', shuffle=False),
                                          collate_fn=dict(type='default_collate')),
                    optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05)),
                    train_cfg=dict(by_epoch=False, max_iters=1),
                    auto_scale_lr=cfg.auto_scale_lr, default_hooks=dict(checkpoint=None))
    runner.train()
    assert runner.optim_wrapper.optimizer.param_groups[0]['lr'] == pytest.approx(0.0125)
