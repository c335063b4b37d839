"""The classification Distiller: frozen teacher, own preprocessing, connectors trained."""
import copy

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS

import kd_transfer  # noqa: F401
from kd_transfer.datasets.cls_sample import ClsDataSample

CIFAR_PP = dict(type='ImgDataPreprocessor', mean=[129.3, 124.1, 112.4], std=[68.2, 65.4, 70.4])


def _cls(depth, pp=CIFAR_PP):
    return dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=depth),
                data_preprocessor=pp)


def _batch(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (3, 32, 32), generator=g, dtype=torch.uint8) for _ in range(n)]
    samples = [ClsDataSample() for _ in range(n)]
    for i, s in enumerate(samples):
        s.set_field(torch.tensor([i % 100]), 'gt_label')
    return dict(inputs=inputs, data_samples=samples)


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory):
    torch.manual_seed(1)
    teacher = MODELS.build(_cls(14))
    path = tmp_path_factory.mktemp('teacher') / 'resnet14.pth'
    torch.save({'state_dict': teacher.state_dict(), 'meta': {}}, path)
    return path, teacher.state_dict()


def _distiller(teacher_ckpt, losses, ce_weight=1.0, teacher_pp=CIFAR_PP):
    return MODELS.build(dict(type='Distiller', student=_cls(8), teacher=_cls(14, teacher_pp),
                             teacher_checkpoint=str(teacher_ckpt), distill_losses=losses,
                             ce_weight=ce_weight))


def test_teacher_frozen_student_and_connectors_trained(teacher_ckpt):
    path, teacher_state = teacher_ckpt
    model = _distiller(path, [dict(type='FitNetsLoss'), dict(type='KDLoss')], ce_weight=0.1)
    model.train()
    assert not model.teacher.training  # model.train() must not unfreeze the teacher
    optim = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)))
    # gradients: student and connectors yes, teacher never
    losses = model(**model.data_preprocessor(_batch(), True), mode='loss')
    assert set(losses) == {'loss_ce', 'loss_kd', 'loss_fitnets'}
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in model.student.parameters())
    assert all(p.grad is not None for p in model.distill_losses.parameters())
    assert all(p.grad is None and not p.requires_grad for p in model.teacher.parameters())
    optim.zero_grad()
    student_before = {k: v.clone() for k, v in model.student.state_dict().items()}
    for seed in range(2):
        model.train_step(_batch(seed=seed), optim)
    # teacher parameters AND BN buffers (running stats, num_batches_tracked) untouched
    for k, v in model.teacher.state_dict().items():
        assert torch.equal(v, teacher_state[k]), k
    assert any(not torch.equal(v, student_before[k]) for k, v in model.student.state_dict().items())


def test_ce_weight_scales_the_student_cross_entropy(teacher_ckpt):
    path, _ = teacher_ckpt
    model = _distiller(path, [dict(type='KDLoss')], ce_weight=0.1).eval()
    data = model.data_preprocessor(_batch(), False)
    losses = model(**data, mode='loss')
    logits = model(**data, mode='tensor')
    labels = torch.arange(4)
    expected = 0.1 * torch.nn.functional.cross_entropy(logits, labels)
    torch.testing.assert_close(losses['loss_ce'], expected)


def test_teacher_uses_its_own_preprocessing(teacher_ckpt):
    path, _ = teacher_ckpt
    teacher_pp = dict(type='ImgDataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.],
                      bgr_to_rgb=True)
    model = _distiller(path, [dict(type='KDLoss')], teacher_pp=teacher_pp).eval()
    batch = _batch()
    seen = {}
    original = model.teacher.backbone.forward_features

    def spy(x):
        seen.setdefault('x', x)
        return original(x)
    model.teacher.backbone.forward_features = spy
    model(**model.data_preprocessor(batch, False), mode='loss')
    raw = torch.stack(batch['inputs']).float()
    torch.testing.assert_close(seen['x'], raw[:, [2, 1, 0]] / 255.)


def test_predict_reports_student_and_teacher_scores(teacher_ckpt):
    path, _ = teacher_ckpt
    model = _distiller(path, [dict(type='KDLoss')]).eval()
    out = model.val_step(_batch())
    assert out[0].pred_score.shape == (100,) and out[0].teacher_pred_score.shape == (100,)
    torch.testing.assert_close(out[0].pred_score.sum(), torch.tensor(1.0))


def test_teacher_checkpoint_of_another_architecture_is_refused(tmp_path):
    other = MODELS.build(_cls(20))
    path = tmp_path / 'resnet20.pth'
    torch.save({'state_dict': other.state_dict()}, path)
    with pytest.raises(ValueError, match=r'resnet20\.pth.*missing.*unexpected') as err:
        _distiller(path, [dict(type='KDLoss')])
    assert 'layer1.2' in str(err.value)  # names the offending keys


def test_unknown_method_lists_known_ones(teacher_ckpt):
    path, _ = teacher_ckpt
    with pytest.raises((KeyError, ValueError), match='KDLoss'):
        _distiller(path, [dict(type='NoSuchKDLoss')])


def test_torchvision_state_dict_loads_as_teacher(tmp_path):
    import torchvision
    tv = torchvision.models.resnet18(num_classes=10)
    path = tmp_path / 'resnet18-tv.pth'
    torch.save(tv.state_dict(), path)
    pp = dict(type='ImgDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
    model = MODELS.build(dict(
        type='Distiller',
        student=dict(type='KDClassifier', backbone=dict(type='TVResNet', depth=18, num_classes=10),
                     data_preprocessor=pp),
        teacher=dict(type='KDClassifier', backbone=dict(type='TVResNet', depth=18, num_classes=10),
                     data_preprocessor=pp),
        teacher_checkpoint=str(path), distill_losses=[dict(type='KDLoss', temperature=1)],
        input_size=(64, 64)))
    torch.testing.assert_close(model.teacher.backbone.fc.weight, tv.fc.weight)


def test_cpu_teacher_runs_channels_last_with_the_same_losses_and_checkpoint(teacher_ckpt):
    path, teacher_state = teacher_ckpt
    losses = [dict(type='KDLoss'), dict(type='ATLoss'), dict(type='ReviewKDLoss', warmup=0)]
    model = _distiller(path, losses).train()
    plain = copy.deepcopy(model)
    plain.teacher_channels_last = False
    data = model.data_preprocessor(_batch(), True)
    got, expected = model(**data, mode='loss'), plain(**data, mode='loss')
    conv = model.teacher.backbone.layer1[0].conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert plain.teacher.backbone.layer1[0].conv1.weight.is_contiguous()
    assert set(got) == set(expected)
    for key in expected:  # the teacher's format changes float rounding only
        torch.testing.assert_close(got[key], expected[key], rtol=1e-4, atol=1e-6)
    # the training checkpoint of a converted model loads strictly into a fresh one
    fresh = _distiller(path, losses)
    fresh.load_state_dict(model.state_dict(), strict=True)
    for key, value in fresh.teacher.state_dict().items():
        assert torch.equal(value, teacher_state[key]), key
