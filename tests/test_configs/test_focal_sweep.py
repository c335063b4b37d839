"""Focal-calibration KD: the paper's 10 x 10 sweep grid and FLSD-53 as ready configs."""
import itertools
import re
from pathlib import Path

import pytest
from mmengine.config import Config

import kd_transfer  # noqa: F401

CIFAR = Path(__file__).parents[2] / 'configs' / 'distill' / 'cifar100'
SWEEP = CIFAR / 'focal_kd_sweep'
# The paper's four CIFAR-100 pairs; its ranges alpha in [0, 0.1] (beta = 1 - alpha) and
# gamma in [0, 0.01], 10 points each.
PAIRS = ['resnet56_resnet20', 'resnet110_resnet20', 'resnet32x4_shufflev1', 'wrn40_2_shufflev1']
ALPHAS = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.10]
GAMMAS = [0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009, 0.010]


def _without_loss(cfg):
    d = cfg.to_dict()
    d['model'].pop('distill_losses')
    d.pop('focal_kd', None)
    return d


@pytest.mark.parametrize('pair', PAIRS)
def test_grid_is_complete_and_inherits_the_pair_config(pair):
    base = Config.fromfile(str(CIFAR / f'focal_kd_{pair}.py'))
    base_loss = dict(base.model.distill_losses[0])
    files = sorted((SWEEP / pair).glob('focal_kd_a*_g*.py'))
    assert len(files) == 100
    points = set()
    for i, path in enumerate(files):
        text = path.read_text()
        assert f"_base_ = ['../../focal_kd_{pair}.py']" in text
        assert 'student=' not in text and 'teacher=' not in text  # inherited, not copied
        found = dict(re.findall(r'\b(alpha|beta|gamma)=([0-9.]+)', text))
        alpha, beta, gamma = (float(found[k]) for k in ('alpha', 'beta', 'gamma'))
        assert beta == pytest.approx(1 - alpha)
        points.add((alpha, gamma))
        if i % 11 == 0:  # the diagonal, fully merged (loading all 100 takes ~10 s per pair)
            cfg = Config.fromfile(str(path))
            loss, = cfg.model.distill_losses
            assert loss == dict(base_loss, alpha=alpha, beta=beta, gamma=gamma)
            assert _without_loss(cfg) == _without_loss(base)
    want = {(a, g) for a, g in itertools.product(ALPHAS, GAMMAS)}
    assert {(round(a, 3), round(g, 4)) for a, g in points} == want


@pytest.mark.parametrize('pair', PAIRS)
def test_flsd53_config(pair):
    base = Config.fromfile(str(CIFAR / f'focal_kd_{pair}.py'))
    cfg = Config.fromfile(str(SWEEP / pair / 'focal_kd-flsd53.py'))
    assert cfg.model.distill_losses == [dict(base.model.distill_losses[0], focal_gamma='flsd53')]
    assert _without_loss(cfg) == _without_loss(base)


def test_every_focal_config_marks_the_suites_own_values():
    for path in sorted(CIFAR.glob('focal_kd_*.py')):
        text = path.read_text()
        assert "the suite's own, not stated by the paper" in text, path


def test_flsd53_config_trains(synthetic_data, tmp_path):
    from mmengine.runner import Runner
    cfg = Config.fromfile(str(SWEEP / 'resnet56_resnet20' / 'focal_kd-flsd53.py'))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].update(batch_size=2, num_workers=0, persistent_workers=False)
        cfg[key].dataset.data_root = str(synthetic_data / 'cifar100')
        cfg[key].dataset.indices = 4
    cfg.train_cfg.max_epochs = 1
    cfg.work_dir = str(tmp_path)
    cfg.model.teacher_checkpoint = None
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    assert 'train/loss_focal' in runner.message_hub.log_scalars
