"""tools/make_transfer_config.py: every architecture gets runnable det and seg configs from its
exported file alone.

Expected values are derived by hand, not from the tool: the student files written for the
students that also have hand-written ones (configs/_base_/students/) must carry the same
channels, strides and DeepLab settings; the DeepLab family rules are those of mmseg's recipes
(docs/transfer.md); the normalisation is the code base's (RepDistiller CIFAR statistics,
torchvision ImageNet statistics).
"""
import ast
import importlib.util
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from kd_transfer.export import export_backbone
from kd_transfer.models import ARCHS, IMAGENET_ARCHS, build_arch
from kd_transfer.transfer_config import TransferConfigError, write_transfer_configs

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location('mtc', REPO / 'tools' / 'make_transfer_config.py')
_cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_cli)

REPDISTILLER_CIFAR = [0.5071 * 255, 0.4867 * 255, 0.4408 * 255]
TORCHVISION_IMAGENET = [123.675, 116.28, 103.53]


#: the code of every transfer config after its two bases (kd_transfer/transfer_glue.py)
GLUE_CALL = ['from kd_transfer.transfer_glue import student_glue',
             'globals().update(student_glue(_base_))']


def _bases(text: str) -> list:
    node = next(n for n in ast.parse(text).body if isinstance(n, ast.Assign)
                and n.targets[0].id == '_base_')
    return ast.literal_eval(node.value)


def _code_after_bases(text: str) -> list:
    """The code lines after the ``_base_`` assignment, comments dropped."""
    tree = ast.parse(text)
    start = next(n for n in tree.body if isinstance(n, ast.Assign)
                 and n.targets[0].id == '_base_').end_lineno
    lines = text.splitlines()[start:]
    return [line.split('#')[0].strip() for line in lines if line.split('#')[0].strip()]


def export(arch: str, root: Path) -> Path:
    src, out = root / f'{arch}_src.pth', root / f'{arch}.pth'
    state = build_arch(arch).state_dict()
    torch.save(state if arch in IMAGENET_ARCHS else {'model': state, 'epoch': 240}, src)
    export_backbone(str(src), str(out), arch=arch)
    return out


def build(cfg_model, scope):
    from mmengine.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(cfg_model)


#: every student of configs/distill/ (CIFAR and ImageNet) plus resnet50 (the bottleneck rule);
#: the other ARCHS (teachers) share these architectures' code paths.
STUDENT_ARCHS = ['resnet8x4', 'resnet20', 'resnet32', 'wrn16_2', 'wrn40_1', 'shufflev1',
                 'shufflev2', 'mobilenetv2_cifar', 'resnet18', 'mobilenetv2', 'mobilenetv1',
                 'resnet50']
USED = sorted(set(STUDENT_ARCHS) | {'resnet56'})


@pytest.fixture(scope='module')
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp('mtc')
    return root, {arch: export(arch, root) for arch in USED}


def test_the_student_list_covers_the_distill_configs():
    names = [p.stem for p in (REPO / 'configs' / 'distill').glob('*/*.py')]
    distilled = {s for s in ARCHS for n in names
                 if n.endswith('_' + s) and not n.startswith('baseline_')}
    assert distilled and distilled <= set(STUDENT_ARCHS), distilled - set(STUDENT_ARCHS)


@pytest.mark.parametrize('arch', STUDENT_ARCHS)
def test_every_architecture_gets_det_and_seg_configs(arch, exports):
    root, files = exports
    out = root / f'cfg_{arch}'
    paths = write_transfer_configs(str(files[arch]), str(out),
                                   kinds=['faster-rcnn_fpn_voc07', 'deeplabv3plus_voc07'])
    assert [Path(p).name for p in paths] == [f'student_{arch}.py',
                                             f'faster-rcnn_{arch}_fpn_voc07.py',
                                             f'deeplabv3plus_{arch}_voc07.py']
    det = Config.fromfile(paths[1])
    seg = Config.fromfile(paths[2])
    mean = TORCHVISION_IMAGENET if arch in IMAGENET_ARCHS else REPDISTILLER_CIFAR
    for cfg in (det, seg):
        assert cfg.model.backbone.init_cfg.checkpoint == str(files[arch])
        assert [h['type'] for h in cfg.custom_hooks] == ['FiniteLossHook', 'BackboneRecordHook']
        assert cfg.model.data_preprocessor.mean == pytest.approx(mean, abs=1e-3)
        assert cfg.model.data_preprocessor.bgr_to_rgb is True
    detector = build(det.model, 'mmdet')
    detector.init_weights()  # loads the export strictly, checks the normalisation
    x = torch.zeros(1, 3, 64, 64)
    detector.eval()
    with torch.no_grad():
        feats = detector.backbone(x)
    assert [f.shape[1] for f in feats] == list(det.model.neck.in_channels)
    assert [64 // f.shape[2] for f in feats] == det.model.rpn_head.anchor_generator.strides[
        :len(feats)]
    segmentor = build(seg.model, 'mmseg')
    segmentor.init_weights()
    head = seg.model.decode_head
    # DeepLab family rules (mmseg's recipes), derived by hand
    if arch in ('resnet18', 'resnet34'):
        want = ((1, 12, 24, 36), 128, 12, 64)
    elif arch in ('resnet50', 'mobilenetv2'):
        want = ((1, 12, 24, 36), 512, 48, 256)
    else:  # CIFAR students: undilated; output stride 4 x input_downscale on the image
        os_image = seg.seg_backbone_strides[-1] * seg.input_downscale
        want = ((1, ) + tuple(r * 8 // os_image for r in (12, 24, 36)), 128, 12, 64)
    assert (tuple(head.dilations), head.channels, head.c1_channels,
            seg.model.auxiliary_head.channels) == want
    assert head.in_channels == det.model.neck.in_channels[-1]


def test_generated_student_files_match_the_hand_written_ones(exports):
    root, files = exports
    for arch in ('resnet18', 'mobilenetv2', 'resnet8x4', 'resnet20', 'resnet56'):
        paths = write_transfer_configs(str(files[arch]), str(root / f'cmp_{arch}'), kinds=['det'])
        gen = Config.fromfile(paths[0])
        ref = Config.fromfile(str(REPO / 'configs' / '_base_' / 'students' / f'{arch}.py'))
        for key in ('backbone_channels', 'backbone_strides', 'seg_backbone_strides',
                    'input_downscale', 'fpn_strides', 'seg_out_stride', 'aspp_dilations'):
            assert gen[key] == ref[key], (arch, key)
        assert gen.seg_heads == ref.seg_heads
        assert {k: tuple(v) for k, v in gen.seg_backbone.items()} == \
            {k: tuple(v) for k, v in ref.seg_backbone.items()}
        assert gen.backbone.type == ref.backbone.type
        assert gen.student_norm.mean == pytest.approx(ref.student_norm.mean, rel=1e-3)
        # the generated config inherits what the hand-written one does (the kind file, its own
        # student file) and adds the same glue call: no copied glue text
        det_text = Path(paths[1]).read_text()
        ref_rel = f'configs/transfer/det/faster-rcnn_{arch}_fpn_1x_coco.py'
        if arch in ('resnet20', 'resnet56'):  # the demo students have VOC2007 configs only
            ref_rel = f'configs/transfer/det/faster-rcnn_{arch}_fpn_voc07.py'
        ref_text = (REPO / ref_rel).read_text()
        assert _bases(det_text) == [
            str(REPO / 'configs/transfer/_base_/kinds/faster-rcnn_fpn_1x_coco.py'), paths[0]]
        assert _code_after_bases(det_text) == _code_after_bases(ref_text) == GLUE_CALL
        # resolved: the hand-written config of the same student but for the checkpoint path
        # and the normalisation statistics (compared above)
        if 'voc07' not in ref_rel:
            got, want = Config.fromfile(paths[1]).to_dict(), Config.fromfile(
                str(REPO / ref_rel)).to_dict()
            for cfg in (got, want):
                for key in ('backbone', 'student_norm', 'student_arch'):
                    cfg.pop(key)
                cfg['model']['backbone'].pop('init_cfg')
                cfg['model'].pop('data_preprocessor')
            assert got == want, arch

def test_all_ten_kinds_parse(exports):
    root, files = exports
    paths = write_transfer_configs(str(files['wrn16_2']), str(root / 'all'), name='wrn_kd')
    assert len(paths) == 11
    for path in paths[1:]:
        cfg = Config.fromfile(path)
        assert cfg.model.backbone.type == 'WideResNet'
        assert 'wrn_kd' in Path(path).name


def test_generated_config_trains(exports, synthetic_data, tmp_path):
    """A student with no hand-written config: 2 iterations + evaluation on generated data."""
    from mmengine.runner import Runner
    from kd_transfer.tiny import tiny_overrides
    root, files = exports
    paths = write_transfer_configs(str(files['wrn16_2']), str(tmp_path / 'cfg'),
                                   kinds=['faster-rcnn_fpn_voc07'])
    cfg = tiny_overrides(Config.fromfile(paths[1]), synthetic_data, tmp_path / 'work',
                         checkpoint=files['wrn16_2'])
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    metrics = runner.val()
    assert 0 <= float(metrics['pascal_voc/mAP']) <= 100


def test_errors(exports, tmp_path, capsys):
    root, files = exports
    plain = tmp_path / 'plain.pth'
    torch.save({'state_dict': build_arch('resnet20').state_dict()}, plain)
    assert _cli.main([str(plain), str(tmp_path / 'o')]) == 1
    assert 'export it first with tools/export_backbone.py' in capsys.readouterr().err
    assert _cli.main([str(files['resnet20']), str(tmp_path / 'o'), '--kinds', 'det']) == 0
    before = (tmp_path / 'o' / 'student_resnet20.py').read_text()
    assert _cli.main([str(files['resnet20']), str(tmp_path / 'o'), '--kinds', 'det']) == 1
    assert 'pass --force' in capsys.readouterr().err
    assert (tmp_path / 'o' / 'student_resnet20.py').read_text() == before
    assert _cli.main([str(files['resnet20']), str(tmp_path / 'o'), '--kinds', 'nope']) == 1
    with pytest.raises(TransferConfigError, match='student name'):
        write_transfer_configs(str(files['resnet20']), str(tmp_path / 'x'), name='../evil')
