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
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
