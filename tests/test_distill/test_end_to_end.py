"""Every distillation loss on a real project pair (resnet56 -> resnet20)."""
import pytest
import torch

from kd_transfer.distill import DISTILL_METHODS, build_distill_loss

from kd_transfer.models import build_arch


def _shapes(feats):
    return {k: ([tuple(t.shape[1:]) for t in v] if isinstance(v, (list, tuple)) else
                tuple(v.shape[1:]))
            for k, v in feats.items()}


@pytest.fixture(scope='module')
def pair():
    torch.manual_seed(0)
    student = build_arch('resnet20')
    teacher = build_arch('resnet56').eval().requires_grad_(False)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        t_feats = teacher.forward_features(x)
        s_shapes = _shapes(student.forward_features(x))
    return student, teacher, x, t_feats, s_shapes, _shapes(t_feats)


@pytest.mark.parametrize('method', sorted(DISTILL_METHODS))
def test_method_on_real_pair(pair, method):
    student, teacher, x, t_feats, s_shapes, t_shapes = pair
    loss = build_distill_loss(dict(type=method))
    loss.setup(s_shapes, t_shapes)
    student.zero_grad(set_to_none=True)
    s_feats = student.forward_features(x)
    terms = loss(s_feats, {k: t_feats[k] for k in loss.teacher_keys}, torch.tensor([3, 97]), 25,
                 student.classifier, teacher.classifier)
    assert terms and all(k.startswith('loss_') for k in terms)
    total = sum(terms.values())
    assert total.ndim == 0 and torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in student.parameters() if p.grad is not None]
    if method != 'focal_kd':  # focal_kd with gamma = 0 still has KD + CE; all reach the student
        assert grads
    assert sum(g.abs().sum() for g in grads) > 0
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None for p in loss.parameters())

