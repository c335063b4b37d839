"""Issue 13, item 15 (NaN teacher): a non-finite loss caused by the teacher says so.

``FiniteLossHook`` advised "Lower the learning rate" for every NaN loss, also when the
teacher's outputs were NaN, which no learning rate fixes. A teacher checkpoint holding
NaN / Inf weights is now refused when it is loaded; a teacher whose weights are finite but
whose outputs are not (here: a negative BatchNorm ``running_var``) stops training with
advice about the teacher checkpoint.
"""
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config

from kd_transfer.hooks.finite_loss import NonFiniteLossError, teacher_diagnosis
from kd_transfer.safe_load import load_checkpoint_file
from kd_transfer.testing import helpers as hh

pytestmark = pytest.mark.usefixtures('one_thread', 'no_leftover_processes')


def _teacher_copy(teacher14, tmp_path, key, value):
    ckpt = load_checkpoint_file(str(teacher14))
    ckpt['state_dict'][key] = torch.full_like(ckpt['state_dict'][key], value)
    path = tmp_path / 'bad_teacher.pth'
    torch.save(ckpt, path)
    return path


def test_teacher_with_non_finite_outputs_gets_teacher_advice(tmp_path, synthetic_data,
                                                              teacher14):
    from mmengine.runner import Runner
    bad = _teacher_copy(teacher14, tmp_path, 'backbone.bn1.running_var', -1.0)
    cfg = Config.fromfile(str(hh.write_cls_config(tmp_path / 'cfg.py', synthetic_data / 'cifar100',
                                                  bad, method='kd', iters=2,
                                                  deterministic=False)))
    cfg.work_dir = str(tmp_path / 'work')
    with pytest.raises(NonFiniteLossError) as err:
        Runner.from_cfg(cfg).train()
    message = str(err.value)
    assert 'non-finite loss at iteration 1' in message and 'loss_kd=nan' in message
    assert f"The teacher outputs are non-finite (NaN/Inf) in the last batch, so every " \
           f"distillation term is: check the teacher checkpoint '{bad}' (its weights are " \
           'finite: look for negative BatchNorm running_var' in message, message
    assert 'Lowering the learning rate will not help' in message
    assert 'Lower the learning rate or' not in message


def test_teacher_checkpoint_with_nan_weights_is_refused_at_load(tmp_path, teacher14):
    from mmengine.registry import MODELS
    bad = _teacher_copy(teacher14, tmp_path, 'backbone.layer2.0.conv2.weight', float('nan'))
    with pytest.raises(ValueError, match=rf"teacher checkpoint '{bad}' holds NaN/Inf weights in "
                                         r"1 tensor\(s\), e\.g\. \['backbone\.layer2\.0\.conv2"
                                         r"\.weight'\]"):
        MODELS.build(dict(type='Distiller', teacher_checkpoint=str(bad),
                          student=dict(type='KDClassifier',
                                       backbone=dict(type='CifarResNet', depth=8)),
                          teacher=dict(type='KDClassifier',
                                       backbone=dict(type='CifarResNet', depth=14)),
                          distill_losses=[dict(type='KDLoss')]))


def test_reviewkd_hook_teacher_diagnosis():
    """The detection / segmentation ReviewKD teacher answers FiniteLossHook the same way."""
    from kd_transfer.hooks import ReviewKDHook
    hook = ReviewKDHook(teacher_config='t.py', teacher_checkpoint='teacher_det.pth')
    runner = SimpleNamespace(model=torch.nn.Linear(2, 2), hooks=[hook])
    assert teacher_diagnosis(runner) is None  # no step yet
    hook.teacher = torch.nn.Linear(2, 2)
    hook._teacher_finite = torch.tensor(True)
    assert teacher_diagnosis(runner) is None
    hook._teacher_finite = torch.tensor(False)
    with torch.no_grad():
        hook.teacher.weight[0, 0] = float('inf')
    assert teacher_diagnosis(runner) == (
        "ReviewKDHook: the teacher outputs (neck) are non-finite (NaN/Inf) in the last batch: "
        "check the teacher checkpoint 'teacher_det.pth' (NaN/Inf weights in ['weight'])")
