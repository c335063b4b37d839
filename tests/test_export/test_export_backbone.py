"""tools/export_backbone.py / kd_transfer.export: every source layout, provenance, bad inputs.

Fake checkpoints are built from freshly built models with random weights (BN statistics
included), in the exact layout each code base writes:

* kd_transfer: mmengine Runner checkpoints of a Distiller / KDClassifier, config text in meta;
* torchvision: ``torchvision.models.resnet18().state_dict()`` (bare, wrapped, DataParallel);
* mdistiller: ``{'model': DataParallel(Distiller).state_dict(), 'optimizer', 'epoch',
  'best_acc'}`` and the ``student_*`` files ``{'model': student.state_dict()}``;
* RepDistiller: ``{'model': student.state_dict(), 'epoch', 'best_acc'}``.

The CIFAR upstream key names are written out below from RepDistiller's ``models/resnet.py``
(the layout mdistiller copied), independently of kd_transfer's architectures.
"""
import importlib.util
import json
import os
from pathlib import Path

import pytest
import torch
import torchvision
from mmengine.config import Config

from kd_transfer.export import (ExportError, export_backbone, extract_student, load_source,
                                parse_config_text, read_scalars)
from kd_transfer.models import build_arch

_CLI = Path(__file__).resolve().parents[2] / 'tools' / 'export_backbone.py'
_spec = importlib.util.spec_from_file_location('export_backbone_cli', _CLI)
_cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_cli)
cli_main = _cli.main


def randomize(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights and BN statistics, so that any mix-up of tensors is visible."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.dtype.is_floating_point:
                shift = 0.5 if 'running_var' in name else -0.5  # variances stay positive
                t.copy_(torch.rand(t.shape, generator=gen) + shift)
            elif 'num_batches_tracked' in name:
                t.fill_(int(torch.randint(1, 1000, (1,), generator=gen)))
    return module


def repdistiller_resnet_keys(num_filters, blocks_per_stage):
    """Parameter/buffer names of RepDistiller's CIFAR ResNet (models/resnet.py), by hand."""
    bn = ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
    keys = ['conv1.weight'] + [f'bn1.{b}' for b in bn]
    inplanes = num_filters[0]
    for stage, (planes, stride) in enumerate(zip(num_filters[1:], (1, 2, 2)), start=1):
        for i in range(blocks_per_stage):
            p = f'layer{stage}.{i}.'
            keys += [p + 'conv1.weight'] + [p + f'bn1.{b}' for b in bn]
            keys += [p + 'conv2.weight'] + [p + f'bn2.{b}' for b in bn]
            if i == 0 and (stride != 1 or inplanes != planes):
                keys += [p + 'downsample.0.weight'] + [p + f'downsample.1.{b}' for b in bn]
            inplanes = planes
    return keys + ['fc.weight', 'fc.bias']


def assert_exported_equals(out_path, expected: dict, dropped_prefixes=('fc.', 'classifier.')):
    ckpt = torch.load(out_path, weights_only=True)
    state = ckpt['state_dict']
    want = {k: v for k, v in expected.items() if not k.startswith(dropped_prefixes)}
    assert sorted(state) == sorted(want)
    for k, v in want.items():
        assert torch.equal(state[k], v), k
    return ckpt['meta']['kd_transfer']


# ------------------------------------------------------------------------ kd_transfer
def distiller_cfg():
    return dict(
        type='Distiller',
        student=dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=8, width=4)),
        teacher=dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=20)),
        distill_losses=[dict(type='KDLoss'), dict(type='FitNetsLoss', hint_layer=2)])


def write_work_dir(work_dir, records):
    run = work_dir / '20260101_120000' / 'vis_data'
    run.mkdir(parents=True)
    old = work_dir / '20250101_120000' / 'vis_data'  # an older run: must be ignored
    old.mkdir(parents=True)
    (old / 'scalars.json').write_text(
        json.dumps({'cls/top1': 1.0, 'cls/ece': 0.9, 'step': 2}) + '\n')
    with open(run / 'scalars.json', 'w') as f:
        for rec in records:
            f.write(json.dumps(rec) + '\n')


def test_kd_transfer_distiller(tmp_path):
    from mmengine.registry import MODELS
    model = MODELS.build(distiller_cfg())
    randomize(model)
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    write_work_dir(work_dir, [
        {'lr': 0.1, 'loss': 3.0, 'step': 10},
        {'cls/top1': 40.0, 'cls/ece': 0.20, 'step': 1},
        {'cls/top1': 55.5, 'cls/ece': 0.11, 'step': 2},
        {'cls/top1': 50.0, 'cls/ece': 0.15, 'step': 3},
    ])
    cfg_text = Config(dict(model=distiller_cfg(), work_dir=str(work_dir),
                           custom_imports=dict(imports=['kd_transfer']))).pretty_text
    src = work_dir / 'best_cls_top1_epoch_2.pth'
    torch.save({'meta': {'cfg': cfg_text, 'seed': 7, 'epoch': 2, 'iter': 20},
                'state_dict': model.state_dict(), 'message_hub': {}}, src)
    out = tmp_path / 'exported' / 'resnet8x4_kd.pth'

    summary = export_backbone(str(src), str(out))

    student = model.student.backbone.state_dict()
    meta = assert_exported_equals(out, student)
    assert summary['dropped'] == {'teacher': len(model.teacher.state_dict()),
                                  'distill_losses.1': len(model.distill_losses[1].state_dict()),
                                  'head (fc)': 2}
    assert meta['arch'] == 'resnet8x4'
    assert meta['method'] == 'kd+fitnets'
    assert meta['teacher'] == 'resnet20'
    assert meta['source_format'] == 'kd_transfer'
    assert meta['seed'] == 7
    assert (meta['top1'], meta['ece']) == (55.5, 0.11)  # the record of the checkpoint's epoch
    assert meta['work_dir'] == str(work_dir)
    import hashlib
    assert meta['source_sha256'] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert meta['backbone'] == {'type': 'CifarResNet', 'depth': 8, 'width': 4,
                                'out_indices': (0, 1, 2)}

    # the exported file gives the student's stage outputs through mmengine's Pretrained init
    backbone = build_arch('resnet8x4', out_indices=(0, 1, 2),
                          init_cfg=dict(type='Pretrained', checkpoint=str(out)))
    backbone.init_weights()
    backbone.eval()
    model.student.backbone.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = model.student.backbone.forward_features(x)['stages'][1:]
        got = backbone(x)
    for r, g in zip(ref, got):
        torch.testing.assert_close(g, r, rtol=0, atol=0)


def test_kd_transfer_classifier_is_baseline(tmp_path):
    from mmengine.registry import MODELS
    cfg = dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=20))
    model = randomize(MODELS.build(cfg), seed=1)
    cfg_text = Config(dict(model=cfg)).pretty_text
    src = tmp_path / 'epoch_1.pth'
    torch.save({'meta': {'cfg': cfg_text}, 'state_dict': model.state_dict()}, src)
    out = tmp_path / 'out.pth'
    summary = export_backbone(str(src), str(out))
    meta = assert_exported_equals(out, model.backbone.state_dict())
    assert (meta['arch'], meta['method'], meta['teacher']) == ('resnet20', 'baseline', None)
    assert (meta['top1'], meta['ece'], meta['seed']) == (None, None, None)  # no scalars.json
    assert summary['kind'] == 'classifier'


# --------------------------------------------------------------- other code bases
@pytest.mark.parametrize('wrap', ['bare', 'state_dict', 'model', 'module'])
def test_torchvision_resnet18(tmp_path, wrap):
    net = randomize(torchvision.models.resnet18(), seed=2)
    state = net.state_dict()
    obj = {'bare': state, 'state_dict': {'state_dict': state}, 'model': {'model': state},
           'module': {f'module.{k}': v for k, v in state.items()}}[wrap]
    src = tmp_path / 'tv.pth'
    torch.save(obj, src)
    out = tmp_path / 'out.pth'
    summary = export_backbone(str(src), str(out), method='baseline')
    meta = assert_exported_equals(out, state)
    assert (meta['arch'], meta['source_format'], meta['method']) == \
        ('resnet18', 'torchvision', 'baseline')
    assert summary['dropped'] == {'head (fc)': 2}
    assert meta['backbone']['type'] == 'ResNet' and meta['backbone']['depth'] == 18


def test_torchvision_mobilenetv2(tmp_path):
    net = randomize(torchvision.models.mobilenet_v2(), seed=3)
    src = tmp_path / 'mbv2.pth'
    torch.save(net.state_dict(), src)
    out = tmp_path / 'out.pth'
    export_backbone(str(src), str(out))
    meta = assert_exported_equals(out, net.state_dict())
    assert (meta['arch'], meta['source_format']) == ('mobilenetv2', 'torchvision')
    assert meta['backbone']['out_indices'] == (0, 1, 2, 3)


def upstream_resnet8x4_state(seed):
    """A RepDistiller-layout resnet8x4 state dict (names by hand, tensors from our model)."""
    ours = randomize(build_arch('resnet8x4'), seed=seed).state_dict()
    keys = repdistiller_resnet_keys([32, 64, 128, 256], 1)
    assert sorted(keys) == sorted(ours), 'CifarResNet no longer mirrors RepDistiller: ' \
        'add a rename step and list it in kd_transfer.export.SOURCE_LAYOUTS'
    return {k: ours[k] for k in keys}


def test_mdistiller_distiller_checkpoint(tmp_path):
    student = upstream_resnet8x4_state(4)
    teacher = randomize(build_arch('resnet32x4'), seed=5).state_dict()
    state = {f'module.student.{k}': v for k, v in student.items()}
    state.update({f'module.teacher.{k}': v for k, v in teacher.items()})
    state.update({'module.abfs.0.conv1.weight': torch.randn(4, 4, 1, 1),
                  'module.abfs.0.att_conv.0.weight': torch.randn(2, 8, 1, 1)})
    src = tmp_path / 'latest'
    torch.save({'epoch': 3, 'model': state, 'optimizer': {'state': {}, 'param_groups': []},
                'best_acc': 71.5}, src)
    out = tmp_path / 'out.pth'
    summary = export_backbone(str(src), str(out), method='reviewkd', teacher='resnet32x4')
    meta = assert_exported_equals(out, student)
    assert (meta['arch'], meta['source_format']) == ('resnet8x4', 'mdistiller')
    assert (meta['method'], meta['teacher']) == ('reviewkd', 'resnet32x4')
    assert meta['top1'] is None  # best_acc of a 'latest' file is not this model's accuracy
    assert summary['dropped'] == {'teacher': len(teacher), 'abfs': 2, 'head (fc)': 2}


def test_mdistiller_student_file(tmp_path):
    student = upstream_resnet8x4_state(6)
    src = tmp_path / 'student_best'
    torch.save({'model': student}, src)
    out = tmp_path / 'out.pth'
    export_backbone(str(src), str(out))
    meta = assert_exported_equals(out, student)
    assert (meta['arch'], meta['source_format']) == ('resnet8x4', 'mdistiller')


def test_repdistiller_checkpoint(tmp_path):
    student = upstream_resnet8x4_state(7)
    src = tmp_path / 'resnet8x4_best.pth'
    torch.save({'epoch': 240, 'model': student, 'best_acc': torch.tensor(76.25)}, src)
    out = tmp_path / 'out.pth'
    export_backbone(str(src), str(out))
    meta = assert_exported_equals(out, student)
    assert (meta['arch'], meta['source_format'], meta['top1']) == \
        ('resnet8x4', 'repdistiller', 76.25)


@pytest.mark.parametrize('arch', ['wrn16_2', 'shufflev1', 'shufflev2', 'mobilenetv2_cifar'])
def test_other_cifar_students(tmp_path, arch):
    model = randomize(build_arch(arch), seed=8)
    src = tmp_path / 'ckpt.pth'
    torch.save({'epoch': 1, 'model': model.state_dict(), 'accuracy': 12.5}, src)
    out = tmp_path / 'out.pth'
    summary = export_backbone(str(src), str(out))
    assert summary['arch'] == arch
    head = [k for k in model.state_dict() if k.startswith(('fc.', 'linear.', 'classifier.'))]
    assert summary['dropped'] == {f'head ({head[0].split(".")[0]})': len(head)}
    head_modules = tuple({h.split('.')[0] + '.' for h in head})
    meta = assert_exported_equals(out, model.state_dict(), dropped_prefixes=head_modules)
    assert meta['top1'] == 12.5


def test_keep_head(tmp_path):
    model = randomize(build_arch('resnet8x4', num_classes=10), seed=9)
    src = tmp_path / 'ckpt.pth'
    torch.save({'model': model.state_dict()}, src)
    out = tmp_path / 'out.pth'
    export_backbone(str(src), str(out), keep_head=True)
    assert_exported_equals(out, model.state_dict(), dropped_prefixes=('none.',))


def test_cli_prints_summary(tmp_path, capsys):
    model = randomize(build_arch('resnet8'), seed=10)
    src = tmp_path / 'ckpt.pth'
    torch.save({'model': model.state_dict(), 'epoch': 1, 'best_acc': 30.0}, src)
    out = tmp_path / 'out.pth'
    assert cli_main([str(src), str(out), '--src-format', 'repdistiller', '--arch', 'resnet8']) == 0
    text = capsys.readouterr().out
    for needle in ('repdistiller', 'resnet8', 'dropped', 'head (fc): 2', str(out)):
        assert needle in text


# ------------------------------------------------------------------------ bad inputs
def assert_fails(tmp_path, capsys, argv, *needles, out_name='out.pth'):
    out = tmp_path / out_name
    before = out.read_bytes() if out.exists() else None
    assert cli_main([*map(str, argv), str(out)]) == 1
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err, err
    assert (out.read_bytes() if out.exists() else None) == before
    assert not [p for p in os.listdir(tmp_path) if p.endswith('.tmp')]
    return err


def test_unknown_layout(tmp_path, capsys):
    src = tmp_path / 'weird.pth'
    torch.save({'encoder.weight': torch.randn(3, 3)}, src)
    assert_fails(tmp_path, capsys, [src], 'unknown layout', str(src))
    torch.save({'epoch': 3, 'weights': [1, 2]}, src)
    assert_fails(tmp_path, capsys, [src], 'unknown checkpoint layout', 'weights')


def test_wrong_arch(tmp_path, capsys):
    src = tmp_path / 'r8x4.pth'
    have = randomize(build_arch('resnet8x4')).state_dict()
    torch.save({'model': have}, src)
    want = {k: v for k, v in build_arch('resnet20').state_dict().items() if not k.startswith('fc.')}
    have = {k: v for k, v in have.items() if not k.startswith('fc.')}
    missing, unexpected = set(want) - set(have), set(have) - set(want)
    mis_shaped = [k for k in set(want) & set(have) if want[k].shape != have[k].shape]
    assert missing and unexpected and mis_shaped
    assert_fails(tmp_path, capsys, [src, '--arch', 'resnet20'], 'do not load strictly',
                 f'{len(missing)} missing', f'{len(unexpected)} unexpected',
                 f'{len(mis_shaped)} mis-shaped', 'conv1.weight: (32, 3, 3, 3) vs (16, 3, 3, 3)',
                 sorted(missing)[0])
    assert_fails(tmp_path, capsys, [src, '--arch', 'resnet1000'], "'resnet1000'", 'resnet8x4')


def test_wrong_src_format(tmp_path, capsys):
    src = tmp_path / 'tv.pth'
    torch.save(torchvision.models.resnet18().state_dict(), src)
    assert_fails(tmp_path, capsys, [src, '--src-format', 'kd_transfer'],
                 'not a kd_transfer checkpoint')


def test_truncated_file(tmp_path, capsys):
    src = tmp_path / 'trunc.pth'
    torch.save({'model': build_arch('resnet8').state_dict()}, src)
    data = src.read_bytes()
    src.write_bytes(data[:len(data) // 2])
    assert_fails(tmp_path, capsys, [src], 'cannot read source checkpoint', str(src))
    assert_fails(tmp_path, capsys, [tmp_path / 'missing.pth'], 'does not exist')


def test_unsafe_pickle_is_refused(tmp_path, capsys):
    src = tmp_path / 'evil.pth'
    torch.save({'model': build_arch('resnet8').state_dict(), 'opt': Config(dict(a=1))}, src)
    assert_fails(tmp_path, capsys, [src], 'weights_only=True', str(src))


def test_existing_out_needs_force(tmp_path, capsys):
    src = tmp_path / 'ckpt.pth'
    torch.save({'model': build_arch('resnet8').state_dict()}, src)
    out = tmp_path / 'out.pth'
    out.write_bytes(b'keep me')
    assert_fails(tmp_path, capsys, [src], 'exists', '--force')
    assert cli_main([str(src), str(out), '--force']) == 0
    assert 'state_dict' in torch.load(out, weights_only=True)


# ------------------------------------------------------------------------- helpers
def test_config_text_is_not_executed(tmp_path):
    marker = tmp_path / 'pwned'
    text = (f"import os\nos.system('touch {marker}')\nmodel = dict(type='KDClassifier', "
            f"backbone=dict(type='CifarResNet', depth=-8), lr=[1, (2, 3)], x={{'a': None}})\n"
            f"work_dir = __import__('os').getcwd()\n")
    parsed = parse_config_text(text)
    assert not marker.exists()
    assert parsed == {'model': {'type': 'KDClassifier',
                                'backbone': {'type': 'CifarResNet', 'depth': -8},
                                'lr': [1, (2, 3)], 'x': {'a': None}}}


def test_read_scalars_falls_back_to_last_record(tmp_path):
    write_work_dir(tmp_path, [{'cls/top1': 10.0, 'step': 1},
                              {'cls/top1': 20.0, 'cls/ece': 0.3, 'step': 2},
                              {'loss': 1.0, 'step': 50}])
    # no epoch known: the last record of the newest launch
    top1, ece, path = read_scalars(str(tmp_path))
    assert (top1, ece) == (20.0, 0.3) and path.endswith('20260101_120000/vis_data/scalars.json')
    # an epoch no launch validated: unknown, not another epoch's value (issue 13, item 8)
    assert read_scalars(str(tmp_path), epoch=9)[:2] == (None, None)
    assert read_scalars(str(tmp_path / 'nowhere')) == (None, None, None)


def test_extract_rejects_non_dict(tmp_path):
    with pytest.raises(ExportError, match='expected a dict'):
        extract_student([1, 2], 'x.pth')
    with pytest.raises(ExportError, match='does not exist'):
        load_source(str(tmp_path / 'nope.pth'))


# ------------------------------------------------------------- a real training run
def test_real_runner_checkpoint(synthetic_data, tmp_path):
    """A checkpoint written by mmengine's Runner (message hub, numpy scalars, config text)."""
    from mmengine.runner import Runner
    repo = Path(__file__).resolve().parents[2]
    cfg = Config.fromfile(str(repo / 'configs/distill/cifar100/kd_resnet32x4_resnet8x4.py'))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].update(batch_size=32, num_workers=0, persistent_workers=False)
        cfg[key].dataset.data_root = str(synthetic_data / 'cifar100')
    cfg.train_cfg.max_epochs = 1
    cfg.model.teacher_checkpoint = None
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    runner.train()
    best = next((tmp_path / 'work').glob('best_cls_top1_epoch_1.pth'))
    out = tmp_path / 'resnet8x4_kd.pth'
    summary = export_backbone(str(best), str(out))
    meta = assert_exported_equals(out, runner.model.student.backbone.state_dict())
    scalars = [json.loads(line) for line in
               next((tmp_path / 'work').glob('*/vis_data/scalars.json')).read_text().splitlines()]
    val = [r for r in scalars if 'cls/top1' in r][-1]
    assert (meta['arch'], meta['method'], meta['teacher']) == ('resnet8x4', 'kd', 'resnet32x4')
    assert (meta['top1'], meta['ece'], meta['seed']) == (val['cls/top1'], val['cls/ece'], 0)
    assert meta['work_dir'] == str(tmp_path / 'work')
    assert set(summary['dropped']) == {'teacher', 'head (fc)'}
