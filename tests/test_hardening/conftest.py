"""Fixtures of the hardening tests: a resnet14 teacher checkpoint and tiny configs."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # hardening_helpers

import hardening_helpers as hh  # noqa: E402


@pytest.fixture(autouse=True)
def no_leftover_processes():
    """Kill what a test started and left running (only when it failed half-way)."""
    yield
    hh.kill_leftovers()


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Tiny models run faster on one thread than on two contended ones (as the subprocesses)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='session')
def teacher14(tmp_path_factory) -> Path:
    """A (randomly initialised, fixed-seed) resnet14 KDClassifier checkpoint."""
    import kd_transfer  # noqa: F401
    from mmengine.registry import MODELS
    torch.manual_seed(1)
    model = MODELS.build(dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=14)))
    path = tmp_path_factory.mktemp('teacher') / 'resnet14.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    return path


@pytest.fixture()
def cls_config(synthetic_data, teacher14, tmp_path):
    """``cls_config(**kw)`` writes a tiny distillation config (hh.write_cls_config)."""
    def make(name='cfg.py', **kw):
        kw.setdefault('deterministic', False)  # in-process runs must not flip global torch flags
        return hh.write_cls_config(tmp_path / name, synthetic_data / 'cifar100', teacher14, **kw)
    return make


@pytest.fixture()
def train_tool():
    """``tools/train.py`` imported in this process (its ``main(argv)``)."""
    return hh.load_tool('train')
