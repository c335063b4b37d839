import pytest
import torch
from mmengine.registry import MODELS

import kd_transfer.distill as distill
from kd_transfer.distill import DISTILL_METHODS, DistillLoss, build_distill_loss, warmup_factor


def test_warmup_factor():
    assert warmup_factor(1, 20) == pytest.approx(0.05)
    assert warmup_factor(10, 20) == pytest.approx(0.5)
    assert warmup_factor(20, 20) == 1.0
    assert warmup_factor(240, 20) == 1.0
    assert warmup_factor(1, 0) == 1.0
    assert warmup_factor(1, None) == 1.0
    assert DistillLoss.warmup_factor(5, 10) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        warmup_factor(1, -3)


def test_methods_registered_and_exported():
    assert set(DISTILL_METHODS) == {'kd', 'fitnets', 'at', 'dkd', 'reviewkd', 'gld', 'focal_kd'}
    for short, cls_name in DISTILL_METHODS.items():
        cls = MODELS.get(cls_name)
        assert cls is getattr(distill, cls_name), short
        assert issubclass(cls, DistillLoss)
        assert isinstance(cls.student_keys, tuple) and isinstance(cls.teacher_keys, tuple)


def test_build_distill_loss_names_and_kwargs():
    cfg = dict(type='dkd', beta=2.0)
    loss = build_distill_loss(cfg)
    assert isinstance(loss, distill.DKDLoss) and loss.beta == 2.0
    assert cfg == dict(type='dkd', beta=2.0)  # not mutated
    assert isinstance(build_distill_loss(dict(type='KDLoss', temperature=1)), distill.KDLoss)
    assert isinstance(build_distill_loss('at'), distill.ATLoss)
    built = distill.KDLoss()
    assert build_distill_loss(built) is built


def test_build_distill_loss_unknown_method():
    with pytest.raises(ValueError) as err:
        build_distill_loss(dict(type='crd'))
    msg = str(err.value)
    assert "'crd'" in msg
    for short, cls_name in DISTILL_METHODS.items():
        assert repr(short) in msg and cls_name in msg
    with pytest.raises(ValueError, match='type'):
        build_distill_loss(dict(temperature=4))


def test_base_setup_is_noop_and_forward_abstract():
    base = DistillLoss()
    assert base.setup({'logits': (10, )}, {'logits': (10, )}) is None
    with pytest.raises(NotImplementedError):
        base({}, {}, torch.zeros(1, dtype=torch.long), 1, None, None)
