"""Issue 13, item 4: ``tools/test.py`` scores only a checkpoint that fits the model.

mmengine's ``Runner.load_checkpoint`` loads with ``strict=False``: a resnet56 checkpoint in
a resnet20 config, a detector checkpoint or an exported backbone printed metrics of a
(partly) random model, exit 0, with only a warning.
"""
import pytest
import torch
from mmengine.config import Config

from kd_transfer.strict_load import CheckpointMismatchError, check_checkpoint_fits
from kd_transfer.testing import helpers as hh

pytestmark = pytest.mark.usefixtures('one_thread', 'no_leftover_processes')


def _model(cfg_path, **student):
    from mmengine.registry import MODELS
    cfg = Config.fromfile(str(cfg_path))
    cfg.model.student.backbone.update(student)
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def _save(tmp_path, name, state, meta=None):
    path = tmp_path / name
    torch.save({'state_dict': state, 'meta': meta or {}}, path)
    return path


@pytest.fixture()
def scored(cls_config, tmp_path, monkeypatch):
    """``score(ckpt)``: tools/test.py on the tiny resnet14 -> resnet8 config; returns the
    metrics it computed (None when it raised before evaluating)."""
    cfg = cls_config(iters=1)
    results = []
    from kd_transfer.evaluation.cls_metric import ClsCalibMetric as metric
    original = metric.compute_metrics

    def compute(self, res):
        out = original(self, res)
        results.append(out)
        return out

    monkeypatch.setattr(metric, 'compute_metrics', compute)

    def score(ckpt):
        hh.load_tool('test').main([str(cfg), str(ckpt), '--work-dir', str(tmp_path / 'w')])
        return results[-1] if results else None
    return cfg, score


def test_a_checkpoint_of_another_depth_is_refused(scored, tmp_path):
    """resnet14 has one more BasicBlock per stage than resnet8: 3 blocks x (2 convs without
    bias + 2 BN x (weight, bias, running_mean, running_var, num_batches_tracked)) = 36."""
    cfg, score = scored
    deeper = _save(tmp_path, 'resnet14_student.pth', _model(cfg, depth=14).state_dict())
    with pytest.raises(CheckpointMismatchError,
                       match=r"checkpoint '.*resnet14_student\.pth' does not fit the model of "
                             r'the config \(Distiller\): 0 missing \[\], 36 unexpected '
                             r'\[student\.backbone\.layer1\.1\.bn1\.bias, .*0 mis-shaped'):
        score(deeper)


def test_a_detector_checkpoint_is_refused(scored, tmp_path):
    cfg, score = scored
    detector = {'backbone.conv1.weight': torch.zeros(64, 3, 7, 7),
                'rpn_head.rpn_conv.weight': torch.zeros(256, 256, 3, 3)}
    with pytest.raises(CheckpointMismatchError, match=r'\d+ missing .* 2 unexpected '
                                                      r'\[backbone\.conv1\.weight, rpn_head.*'
                                                      r'None of its keys fit'):
        score(_save(tmp_path, 'faster_rcnn.pth', detector))


def test_an_exported_backbone_is_refused_with_the_right_advice(scored, tmp_path):
    cfg, score = scored
    backbone = {k[len('student.backbone.'):]: v for k, v in _model(cfg).state_dict().items()
                if k.startswith('student.backbone.')}
    path = _save(tmp_path, 'backbone.pth', backbone, meta={'kd_transfer': {'arch': 'resnet8'}})
    with pytest.raises(CheckpointMismatchError,
                       match=r'It is an exported backbone: .*model\.backbone\.init_cfg\.checkpoint'):
        score(path)


def test_a_mis_shaped_checkpoint_is_refused(scored, tmp_path):
    cfg, score = scored
    state = _model(cfg).state_dict()
    state['student.backbone.fc.weight'] = torch.zeros(10, 64)
    with pytest.raises(CheckpointMismatchError,
                       match=r'1 mis-shaped \[student\.backbone\.fc\.weight \(10, 64\) vs '
                             r'\(100, 64\)\]'):
        score(_save(tmp_path, 'mis.pth', state))


def test_the_runs_own_checkpoint_is_scored(scored, tmp_path):
    """Control, also without ``num_batches_tracked`` (torch's strict load fills it in)."""
    cfg, score = scored
    state = {k: v for k, v in _model(cfg).state_dict().items()
             if not k.endswith('num_batches_tracked')}
    metrics = score(_save(tmp_path, 'own.pth', state))
    assert metrics is not None and 'top1' in metrics


def test_check_agrees_with_torch_strict_loading():
    """The check refuses exactly what ``load_state_dict(strict=True)`` refuses."""
    from kd_transfer.models import build_arch
    model = build_arch('resnet8')
    good = dict(model.state_dict())
    cases = {'own': good,
             'no counters': {k: v for k, v in good.items() if 'num_batches' not in k},
             'extra': dict(good, extra=torch.zeros(1)),
             'missing': {k: v for k, v in good.items() if k != 'conv1.weight'},
             'mis-shaped': dict(good, **{'fc.bias': torch.zeros(3)})}
    for name, state in cases.items():
        try:
            build_arch('resnet8').load_state_dict(state, strict=True)
            torch_ok = True
        except RuntimeError:
            torch_ok = False
        try:
            check_checkpoint_fits(model, {'state_dict': state}, name)
            ours = True
        except CheckpointMismatchError:
            ours = False
        assert ours == torch_ok, name


def test_checkpoint_with_nan_weights_is_not_scored():
    """A checkpoint that fits but holds NaN weights: test.py printed top-1 0.0 / ECE nan, exit 0."""
    import pytest
    import torch
    from torch import nn

    from kd_transfer.strict_load import CheckpointMismatchError, check_checkpoint_fits
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state['1.running_var'][0] = float('nan')
    with pytest.raises(CheckpointMismatchError, match=r"'c\.pth' holds NaN/Inf in 1 tensor.*"
                                                      r"1\.running_var"):
        check_checkpoint_fits(model, {'state_dict': state}, 'c.pth')
    state['1.running_var'][0] = 1.0
    check_checkpoint_fits(model, {'state_dict': state}, 'c.pth')  # finite: accepted
