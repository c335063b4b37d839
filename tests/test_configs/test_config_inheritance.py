"""configs/distill/ inherits rather than copies: a method file extends its pair file
(_pairs/<teacher>_<student>.py) with its losses and CE weight only; resolved values are the
recipes' (written out by hand from the method files as they were before the split)."""
import re
from pathlib import Path

import pytest
from mmengine.config import Config

import kd_transfer  # noqa: F401

DISTILL = Path(__file__).parents[2] / 'configs' / 'distill'
METHODS = ('focal_kd', 'fitnets', 'reviewkd', 'dkd', 'gld', 'kd', 'at')
CIFAR_MEAN = [129.304, 124.070, 112.434]  # configs/_base_/cls/cifar100.py


def _method_files():
    for path in sorted(DISTILL.glob('*/*.py')):
        if not path.stem.startswith('baseline_') and '+' not in path.stem:
            yield path


def test_every_method_file_extends_its_pair_file():
    files = list(_method_files())
    assert len(files) == 7 * 7 + 3 * 7  # 7 CIFAR-100 pairs, 3 ImageNet pairs, 7 methods
    for path in files:
        method = next(m for m in METHODS if path.stem.startswith(m + '_'))
        pair = path.stem[len(method) + 1:]
        assert (path.parent / '_pairs' / f'{pair}.py').is_file(), path
        code = '\n'.join(line.split('#')[0] for line in path.read_text().splitlines())
        assert f"_base_ = ['./_pairs/{pair}.py']" in code, path
        assert not re.search(r'\b(student|teacher|teacher_checkpoint|input_size)=', code), path


def test_cifar_kd_resolves_to_the_recipe():
    cfg = Config.fromfile(str(DISTILL / 'cifar100' / 'kd_resnet32x4_resnet8x4.py'))
    m = cfg.model
    assert m.type == 'Distiller' and m.input_size == (32, 32)
    assert m.student.type == m.teacher.type == 'KDClassifier'
    assert m.student.backbone == dict(type='CifarResNet', depth=8, width=4)
    assert m.teacher.backbone == dict(type='CifarResNet', depth=32, width=4)
    assert m.teacher_checkpoint == 'checkpoints/cifar100/resnet32x4.pth'
    assert m.student.data_preprocessor.mean == m.teacher.data_preprocessor.mean == CIFAR_MEAN
    assert m.ce_weight == 0.1
    assert m.distill_losses == [dict(type='KDLoss', temperature=4, loss_weight=0.9)]
    assert cfg.optim_wrapper.optimizer.lr == 0.05 and cfg.train_cfg.max_epochs == 240


@pytest.mark.parametrize('name,lr,beta', [('dkd_wrn40_2_shufflev1', 0.01, 8.0),
                                          ('dkd_wrn40_2_wrn16_2', 0.05, 6.0)])
def test_pair_schedule_reaches_every_method(name, lr, beta):
    """The ShuffleNet students' lr 0.01 lives in their pair file."""
    cfg = Config.fromfile(str(DISTILL / 'cifar100' / f'{name}.py'))
    assert cfg.optim_wrapper.optimizer.lr == lr
    assert cfg.model.distill_losses == [
        dict(type='DKDLoss', alpha=1.0, beta=beta, temperature=4, warmup=20)]


def test_imagenet_pair():
    cfg = Config.fromfile(str(DISTILL / 'imagenet' / 'dkd_resnet34_resnet18.py'))
    m = cfg.model
    assert (m.student.backbone, m.teacher.backbone) == (dict(type='TVResNet', depth=18),
                                                        dict(type='TVResNet', depth=34))
    assert m.input_size == (224, 224)
    assert m.teacher_checkpoint == 'checkpoints/imagenet/resnet34-b627a593.pth'
