"""Every classification config (teachers, baselines, each method x pair) trains 1 epoch of 2
iterations and validates on generated data in the real CIFAR-100 / ImageFolder formats."""
import copy
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

import kd_transfer  # noqa: F401

CONFIGS = Path(__file__).parents[2] / 'configs' / 'distill'
CIFAR = sorted((CONFIGS / 'cifar100').glob('*.py'))
IMAGENET = sorted((CONFIGS / 'imagenet').glob('*.py'))


@pytest.fixture(scope='module')
def image_folder(tmp_path_factory):
    """A 2-class ImageNet-layout tree: root/{train,val}/<wnid>/*.JPEG (48 x 48)."""
    root = tmp_path_factory.mktemp('imagenet')
    rng = np.random.default_rng(0)
    for split, n in (('train', 2), ('val', 1)):
        for wnid in ('n01440764', 'n01443537'):
            (root / split / wnid).mkdir(parents=True)
            for i in range(n):
                arr = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
                Image.fromarray(arr).save(root / split / wnid / f'{wnid}_{i}.JPEG')
    return root


def _shrink(cfg: Config, data_root: Path, work_dir: Path, batch: int, extra: dict) -> Config:
    """The only changes tests make: data location, batch size, one epoch, no workers."""
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[key]
        loader.update(batch_size=batch, num_workers=0, persistent_workers=False)
        loader.dataset.data_root = str(data_root)
        loader.dataset.update(extra, indices=4)  # 2 iterations of 2 images, 4 to validate
    cfg.train_cfg.max_epochs = 1
    cfg.work_dir = str(work_dir)
    cfg.default_hooks.logger.interval = 1
    # no checkpoint: writing teacher + student (ResNet-50: ~100 MB, fsync-ed) was half of an
    # ImageNet config's time here; checkpointing is tested by the resume / fileio tests
    cfg.default_hooks.checkpoint = None
    if cfg.model.type == 'Distiller':
        cfg.model.teacher_checkpoint = None  # loading is tested in test_distiller.py
    return cfg


def _train(cfg: Config):
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def _val_metrics(runner):
    return runner.message_hub.log_scalars


@pytest.mark.parametrize('config', CIFAR, ids=[c.stem for c in CIFAR])
def test_cifar_config_trains_and_validates(config, synthetic_data, tmp_path):
    cfg = _shrink(Config.fromfile(str(config)), synthetic_data / 'cifar100', tmp_path, 2, {})
    runner = _train(cfg)
    assert runner.iter == 2
    scalars = _val_metrics(runner)
    for key in ('val/cls/top1', 'val/cls/ece', 'val/cls/nll'):
        assert key in scalars, key
    if cfg.model.type == 'Distiller':
        assert 'val/cls/teacher_top1' in scalars
        losses = [k for k in scalars if k.startswith('train/loss_')]
        assert len(losses) >= 2, losses  # CE (or its replacement) + the method's own terms


@pytest.mark.parametrize('config', IMAGENET, ids=[c.stem for c in IMAGENET])
def test_imagenet_config_trains_and_validates(config, image_folder, tmp_path):
    cfg = _shrink(Config.fromfile(str(config)), image_folder, tmp_path, 2, dict(image_size=64))
    if cfg.model.type == 'Distiller':
        cfg.model.input_size = (64, 64)
    runner = _train(cfg)
    assert runner.iter == 2
    assert 'val/cls/top1' in _val_metrics(runner)
