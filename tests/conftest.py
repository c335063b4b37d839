"""Shared pytest fixtures.

``synthetic_data`` generates the synthetic shapes world once per test session (about 0.2 s)
and returns its root directory::

    <root>/VOCdevkit/VOC2007/{JPEGImages,Annotations,SegmentationClass}/000001..000012.*
        ImageSets/Main/{trainval (000001-000008), train, val, test (000009-000012)}.txt
        ImageSets/Segmentation/{train (=trainval), val (=test), trainval, test}.txt
    <root>/coco/annotations/instances_{train2017,val2017}.json   (8 and 4 images)
    <root>/coco/{train2017,val2017}/*.jpg
    <root>/cifar100/cifar-100-python/{train (64 images), test (32 images), meta}
    <root>/synthetic_info.json

All VOC / COCO images are 64 x 64 (SYNTHETIC_SIZES). Tests must treat the directory as
read-only: it is shared by the whole session.

The other fixtures wrap :mod:`kd_transfer.testing.helpers` (imported as ``hh`` by the tests
that start tools): ``teacher14``, ``cls_config``, ``train_tool``, ``free_port``, and two that
the fault tests request with ``pytestmark = pytest.mark.usefixtures(...)``: ``one_thread``
and ``no_leftover_processes``.

Markers (registered in pyproject.toml): ``slow`` marks what ``make test-fast`` skips; see
``SLOW`` below for the tests marked here rather than in their own file.
"""
import os
from pathlib import Path

import pytest

# The tests start multi-process runs (tools/dist_train.sh, torchrun) on this GPU-less machine:
# that CPU fallback must be asked for explicitly (kd_transfer/launch.py).
os.environ.setdefault('KD_DEVICE', 'cpu')

#: Arguments of ``make_synthetic_data`` used by the ``synthetic_data`` fixture.
SYNTHETIC_SIZES = dict(seed=0, num_train=8, num_val=4, image_size=64, cifar_train=64,
                       cifar_test=32)


@pytest.fixture(scope='session')
def synthetic_data(tmp_path_factory) -> Path:
    """Root of a small synthetic VOC2007 / COCO2017 / CIFAR-100 tree (see module docstring)."""
    from kd_transfer.datasets.synthetic import make_synthetic_data
    out = tmp_path_factory.mktemp('synthetic') / 'data'
    return make_synthetic_data(out, log=lambda msg: None, **SYNTHETIC_SIZES)


@pytest.fixture
def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for torchrun's rendezvous in multi-process tests)."""
    from kd_transfer.testing.helpers import free_port
    return free_port()


@pytest.fixture
def no_leftover_processes():
    """Kill what a test started and left running (only when it failed half-way)."""
    from kd_transfer.testing.helpers import kill_leftovers
    yield
    kill_leftovers()


@pytest.fixture(scope='module')
def one_thread():
    """Tiny models run faster on one thread than on two contended ones (as the subprocesses)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='session')
def teacher14(tmp_path_factory) -> Path:
    """A (randomly initialised, fixed-seed) resnet14 KDClassifier checkpoint."""
    import torch
    from mmengine.registry import MODELS
    import kd_transfer  # noqa: F401
    torch.manual_seed(1)
    model = MODELS.build(dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=14)))
    path = tmp_path_factory.mktemp('teacher') / 'resnet14.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    return path


@pytest.fixture()
def cls_config(synthetic_data, teacher14, tmp_path):
    """``cls_config(**kw)`` writes a tiny distillation config (kd_transfer.testing.helpers.write_cls_config)."""
    from kd_transfer.testing.helpers import write_cls_config

    def make(name='cfg.py', **kw):
        kw.setdefault('deterministic', False)  # in-process runs must not flip global torch flags
        return write_cls_config(tmp_path / name, synthetic_data / 'cifar100', teacher14, **kw)
    return make


@pytest.fixture()
def train_tool():
    """``tools/train.py`` imported in this process (its ``main(argv)``)."""
    from kd_transfer.testing.helpers import load_tool
    return load_tool('train')
