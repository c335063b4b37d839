"""Issue 13, items 2, 5, 8, 13 and 15 (exporter): the output is never the source, NaN / Inf
weights are refused, provenance metrics come from the exported checkpoint's own epoch, old
torchvision state dicts without ``num_batches_tracked`` are accepted, and the printed
command survives paths with spaces.
"""
import json
import os
import shlex

import pytest
import torch
from mmengine.config import Config

from kd_transfer.export import ExportError, export_backbone, format_summary, read_scalars
from kd_transfer.safe_load import load_checkpoint_file
from kd_transfer.testing import helpers as hh

pytestmark = pytest.mark.usefixtures('one_thread', 'no_leftover_processes')


def _student(tmp_path, name='student.pth', arch='resnet8'):
    from kd_transfer.models import build_arch
    torch.manual_seed(0)
    path = tmp_path / name
    torch.save({'model': build_arch(arch).state_dict()}, path)
    return path


# ----------------------------------------------------------------- item 2: OUT is SRC
@pytest.mark.parametrize('how', ['same path', 'relative path', 'symlink', 'hardlink'])
def test_output_that_is_the_source_is_refused_even_with_force(tmp_path, capsys, how,
                                                              monkeypatch):
    src = _student(tmp_path)
    before = src.read_bytes()
    if how == 'same path':
        out = src
    elif how == 'relative path':
        monkeypatch.chdir(tmp_path)
        out = tmp_path / 'sub' / '..' / 'student.pth'
        (tmp_path / 'sub').mkdir()
    elif how == 'symlink':
        out = tmp_path / 'link.pth'
        out.symlink_to(src)
    else:
        out = tmp_path / 'hard.pth'
        os.link(src, out)
    rc = hh.load_tool('export_backbone').main([str(src), str(out), '--force'])
    err = capsys.readouterr().err
    assert rc == 1
    assert 'is the source checkpoint' in err and '--force never replaces the source' in err, err
    assert src.read_bytes() == before
    assert 'model' in load_checkpoint_file(str(src))  # still the training checkpoint


# ------------------------------------------------------------- item 5: non-finite weights
@pytest.mark.parametrize('value', [float('nan'), float('inf')], ids=['nan', 'inf'])
def test_non_finite_weights_are_refused(tmp_path, value):
    from kd_transfer.models import build_arch
    state = build_arch('resnet8').state_dict()
    state['layer2.0.conv1.weight'][0, 0, 0, 0] = value
    src = tmp_path / 'diverged.pth'
    torch.save({'model': state}, src)
    out = tmp_path / 'out.pth'
    kind = 'NaN' if value != value else 'Inf'
    with pytest.raises(ExportError, match=rf"1 tensor\(s\) of the student hold NaN/Inf, e\.g\. "
                                          rf"\[layer2\.0\.conv1\.weight\] \(.*1 {kind}"):
        export_backbone(str(src), str(out))
    assert not out.exists()


# ------------------------------------------------ item 8: metrics of the checkpoint's epoch
def _launch(work, stamp, records):
    run = work / stamp / 'vis_data'
    run.mkdir(parents=True)
    (run / 'scalars.json').write_text(''.join(json.dumps(r) + '\n' for r in records))


def _kd_checkpoint(work, name, epoch):
    """A kd_transfer KDClassifier checkpoint as mmengine writes it (meta: cfg text, epoch)."""
    from mmengine.registry import MODELS
    model_cfg = dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=8))
    model = MODELS.build(model_cfg)
    cfg_text = Config(dict(model=model_cfg, work_dir=str(work))).pretty_text
    path = work / name
    torch.save({'state_dict': model.state_dict(),
                'meta': {'cfg': cfg_text, 'epoch': epoch, 'iter': epoch * 10, 'seed': 0}}, path)
    return path


def test_provenance_takes_the_exported_epochs_metrics_after_a_resume(tmp_path):
    """Launch 1 validated epochs 1-2 (best: epoch 2, 25.0); the resumed launch 2 validated
    epochs 3-4 (18.75 last). best_cls_top1_epoch_2.pth must record 25.0 / 0.05."""
    work = tmp_path / 'work'
    _launch(work, '20260101_100000', [{'loss': 4.0, 'step': 10},
                                      {'cls/top1': 20.0, 'cls/ece': 0.1, 'step': 1},
                                      {'cls/top1': 25.0, 'cls/ece': 0.05, 'step': 2}])
    _launch(work, '20260101_110000', [{'cls/top1': 19.5, 'cls/ece': 0.2, 'step': 3},
                                      {'cls/top1': 18.75, 'cls/ece': 0.3, 'step': 4}])
    src = _kd_checkpoint(work, 'best_cls_top1_epoch_2.pth', epoch=2)
    summary = export_backbone(str(src), str(tmp_path / 'b.pth'))
    meta = load_checkpoint_file(str(tmp_path / 'b.pth'))['meta']['kd_transfer']
    assert (meta['top1'], meta['ece']) == (25.0, 0.05)
    assert summary['scalars'] == str(work / '20260101_100000' / 'vis_data' / 'scalars.json')
    # epoch 4 comes from the newer launch
    assert read_scalars(str(work), epoch=4)[:2] == (18.75, 0.3)


def test_provenance_is_unknown_for_an_epoch_that_was_not_validated(tmp_path):
    """epoch_3.pth of a run validated every 2 epochs: no value rather than epoch 2's."""
    work = tmp_path / 'work'
    _launch(work, '20260101_100000', [{'cls/top1': 25.0, 'cls/ece': 0.05, 'step': 2}])
    top1, ece, path = read_scalars(str(work), epoch=3)
    assert (top1, ece) == (None, None) and path.endswith('scalars.json')
    assert read_scalars(str(work))[:2] == (25.0, 0.05)  # no epoch given: the last record


# --------------------------------------- item 13: torchvision without num_batches_tracked
def test_torchvision_state_dict_without_num_batches_tracked_is_exported(tmp_path):
    """Older torchvision weight files (e.g. resnet18-5c106cde.pth) have no
    ``num_batches_tracked``; torch loads them strictly, so must the exporter."""
    import torchvision
    torch.manual_seed(0)
    state = {k: v for k, v in torchvision.models.resnet18().state_dict().items()
             if not k.endswith('num_batches_tracked')}
    torchvision.models.resnet18().load_state_dict(state, strict=True)  # what torch accepts
    src = tmp_path / 'resnet18-old.pth'
    torch.save(state, src)
    out = tmp_path / 'resnet18_backbone.pth'
    summary = export_backbone(str(src), str(out))
    assert (summary['arch'], summary['source_format']) == ('resnet18', 'torchvision')
    exported = load_checkpoint_file(str(out))['state_dict']
    for key, value in state.items():
        if not key.startswith('fc.'):
            assert torch.equal(exported[key], value), key
    counters = [k for k in exported if k.endswith('num_batches_tracked')]
    assert len(counters) == 20 and all(int(exported[k]) == 0 for k in counters)


# ------------------------------------------------------- item 15: quoted "use it with"
def test_printed_command_quotes_paths_with_spaces(tmp_path, capsys):
    folder = tmp_path / "my backbones (v2)"
    folder.mkdir()
    out = folder / "resnet8 kd's.pth"
    rc = hh.load_tool('export_backbone').main([str(_student(tmp_path)), str(out)])
    assert rc == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith('use it with'))
    words = shlex.split(line[len('use it with'):])
    assert words == ['--cfg-options', f'model.backbone.init_cfg.checkpoint={out}']


def test_format_summary_plain_path_is_unchanged():
    summary = dict(source='s', out='/x/b.pth', source_format='torchvision', kind='state_dict',
                   arch='resnet18', target='t', num_tensors=1, num_params=1, dropped={},
                   provenance=dict(backbone={}, method=None, teacher=None, top1=None, ece=None,
                                   seed=None, work_dir=None, source_sha256='0'))
    assert format_summary(summary).splitlines()[-1] == \
        'use it with   --cfg-options model.backbone.init_cfg.checkpoint=/x/b.pth'
