"""configs/transfer/: every config parses and builds; students' channel tables are right; a
representative subset trains 2 iterations and evaluates on the generated data.

The smoke runs go through ``tiny_overrides`` (tests/test_configs/_tiny.py) and load a backbone
exported by tools/export_backbone.py through the documented
``model.backbone.init_cfg.checkpoint`` option.
"""
import os
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from kd_transfer.tiny import tiny_overrides

REPO = Path(__file__).resolve().parents[2]
STUDENT_DIR = REPO / 'configs' / '_base_' / 'students'
STUDENTS = sorted(p.stem for p in STUDENT_DIR.glob('*.py'))
CONFIGS = sorted(str(p.relative_to(REPO)) for task in ('det', 'seg')
                 for p in (REPO / 'configs' / 'transfer' / task).glob('*.py'))


def load(rel_path: str) -> Config:
    return Config.fromfile(str(REPO / rel_path))  # imports kd_transfer (custom_imports)


def build(cfg_model, scope: str):
    from mmengine.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(cfg_model)


def student_of(rel_path: str) -> str:
    return next(s for s in STUDENTS if f'_{s}_' in Path(rel_path).name)


#: the students that matter for transfer get every config; the cheap CIFAR pair of the
#: demo (resnet56 -> resnet20, tools/demo.py) gets the VOC2007 ones it uses.
FULL_STUDENTS = {'mobilenetv2', 'resnet18', 'resnet8x4'}
DEMO_CONFIGS = {'resnet20': {'faster-rcnn_resnet20_fpn_voc07.py', 'deeplabv3plus_resnet20_voc07.py'},
                'resnet56': {'faster-rcnn_resnet56_fpn_voc07.py'}}


def test_the_expected_configs_exist():
    names = {Path(p).name for p in CONFIGS}
    assert set(STUDENTS) == FULL_STUDENTS | set(DEMO_CONFIGS)
    for s in FULL_STUDENTS:
        expected = {f'faster-rcnn_{s}_fpn_1x_coco.py', f'faster-rcnn_{s}_fpn_voc07.py'}
        expected |= {f'{head}_{s}_{data}.py' for head in ('deeplabv3plus', 'deeplabv3')
                     for data in ('voc07', 'voc12aug', 'coco80', 'coco20voc')}
        assert expected <= names
    for s, expected in DEMO_CONFIGS.items():
        assert expected <= names
    assert len(names) == 30 + sum(len(v) for v in DEMO_CONFIGS.values())


def _code(path: Path) -> list:
    """A config's code lines, comments and blank lines dropped."""
    lines = (line.split('#')[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def test_every_config_is_its_kind_its_student_and_the_glue():
    """The glue is written once (kd_transfer/transfer_glue.py) and inherited, never copied: a
    config's code is its kind file, its student file and the glue call, nothing else."""
    kinds = set()
    for rel in CONFIGS:
        s = student_of(rel)
        kind = Path(rel).stem.replace(f'_{s}', '')
        kinds.add(kind)
        assert (REPO / 'configs/transfer/_base_/kinds' / f'{kind}.py').is_file(), rel
        assert _code(REPO / rel) == [
            f"_base_ = ['../_base_/kinds/{kind}.py', '../../_base_/students/{s}.py']",
            'from kd_transfer.transfer_glue import student_glue',
            'globals().update(student_glue(_base_))'], rel
    assert len(kinds) == 10


def test_glue_resolves_a_cifar_student_as_worked_out_by_hand():
    """resnet8x4: outputs (64, 128, 256) at strides (1, 2, 4), 1/4-size inputs, undilated."""
    cifar_mean = [129.304, 124.070, 112.434]  # configs/_base_/cls/cifar100.py
    det = load('configs/transfer/det/faster-rcnn_resnet8x4_fpn_voc07.py')
    assert det.model.data_preprocessor.mean == cifar_mean
    assert det.model.data_preprocessor.bgr_to_rgb is True
    assert (det.model.backbone.type, det.model.backbone.norm_eval,
            det.model.backbone.frozen_stages) == ('CifarResNet', True, 1)
    assert det.model.neck.in_channels == [64, 128, 256]
    assert det.model.rpn_head.anchor_generator.strides == [1, 2, 4, 8, 16]
    roi = det.model.roi_head.bbox_roi_extractor
    assert (roi.featmap_strides, roi.finest_scale) == ([1, 2, 4, 8], 56 // 4)
    resize, = [t for t in det.train_dataloader.dataset.dataset.pipeline if t.type == 'Resize']
    assert resize.scale == (1000 // 4, 600 // 4)  # mmdet's VOC recipe: (1000, 600)
    seg = load('configs/transfer/seg/deeplabv3plus_resnet8x4_voc07.py')
    assert seg.crop_size == seg.model.data_preprocessor.size == (128, 128)  # 512 / 4
    head, aux = seg.model.decode_head, seg.model.auxiliary_head
    assert (head.in_channels, head.in_index, head.c1_in_channels) == (256, 2, 64)
    assert (head.channels, head.c1_channels, aux.channels) == (128, 12, 64)
    assert tuple(head.dilations) == (1, 6, 12, 18)  # output stride 16 on the image
    assert (aux.in_channels, aux.in_index, head.num_classes) == (128, 1, 21)
    train = seg.train_dataloader.dataset
    assert (train.type, train.ann_file) == ('PascalVOCDataset', 'ImageSets/Segmentation/trainval.txt')
    crop, = [t for t in train.pipeline if t.type == 'RandomCrop']
    assert tuple(crop.crop_size) == (128, 128)


def test_glue_errors_name_what_is_missing():
    from kd_transfer.transfer_glue import TransferGlueError, student_glue, student_numbers
    with pytest.raises(TransferGlueError, match=r"no \['backbone'"):
        student_glue(dict(default_scope='mmdet'))
    assert student_numbers([4, 8, 16, 32], [4, 8, 8, 8]) == dict(
        input_downscale=1, fpn_strides=[4, 8, 16, 32, 64], seg_out_stride=8,
        aspp_dilations=(1, 12, 24, 36))


@pytest.mark.parametrize('rel', CONFIGS)
def test_config_parses_and_builds(rel):
    cfg = load(rel)
    text = (REPO / rel).read_text()
    assert 'model.backbone.init_cfg.checkpoint=' in text.split('\n_base_ = ')[0]  # in the header
    assert cfg.custom_imports == dict(imports=['kd_transfer'], allow_failed_imports=False)
    student = Config.fromfile(str(STUDENT_DIR / f'{student_of(rel)}.py'))
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    assert cfg.model.backbone.type == student.backbone.type
    roots = {d.data_root for d in (cfg.train_dataloader.dataset, cfg.val_dataloader.dataset)
             if 'data_root' in d}
    assert roots and all(r.startswith(('data/VOCdevkit', 'data/coco/')) for r in roots)
    if cfg.default_scope == 'mmdet':
        assert cfg.model.neck.in_channels == student.backbone_channels
        metric = cfg.val_evaluator.type
        assert metric == ('CocoMetric' if 'coco' in rel else 'VOCMetric')
        if metric == 'VOCMetric':
            assert cfg.val_evaluator.eval_mode == '11points'
            train_set = cfg.train_dataloader.dataset.dataset  # inside RepeatDataset
            assert train_set.ann_file == 'VOC2007/ImageSets/Main/trainval.txt'
    else:
        assert cfg.default_scope == 'mmseg'
        assert cfg.model.decode_head.in_channels == student.backbone_channels[-1]
        assert cfg.model.auxiliary_head.in_channels == student.backbone_channels[-2]
        if 'deeplabv3plus' in rel:
            assert cfg.model.decode_head.c1_in_channels == student.backbone_channels[0]
        assert cfg.val_evaluator.type == 'IoUMetric'
        assert cfg.train_cfg.max_iters == (40000 if 'coco' in rel else 20000)
        if 'coco' in rel:
            assert cfg.train_dataloader.dataset.type == 'COCOSemSegDataset'
    model = build(cfg.model, cfg.default_scope)
    assert type(model.backbone).__name__ == {
        'resnet18': 'ResNet', 'mobilenetv2': 'TVMobileNetV2', 'resnet8x4': 'CifarResNet',
        'resnet20': 'CifarResNet', 'resnet56': 'CifarResNet'}[student_of(rel)]


@pytest.mark.parametrize('student', STUDENTS)
@pytest.mark.parametrize('task', ['det', 'seg'])
def test_student_channel_table_matches_the_backbone(student, task):
    """backbone_channels / backbone_strides of configs/_base_/students/<arch>.py are real."""
    if student == 'resnet56' and task == 'seg':
        task = 'det'  # the demo's teacher has no segmentation config
    rel = (f'configs/transfer/det/faster-rcnn_{student}_fpn_voc07.py' if task == 'det'
           else f'configs/transfer/seg/deeplabv3plus_{student}_voc07.py')
    cfg = load(rel)
    backbone_cfg = cfg.model.backbone.copy()
    backbone_cfg.init_cfg = None
    backbone = build(backbone_cfg, cfg.default_scope)
    backbone.eval()  # (mmdet's ResNet.train() returns None)
    with torch.no_grad():
        outs = backbone(torch.randn(1, 3, 64, 96))
    assert [o.shape[1] for o in outs] == cfg.backbone_channels
    if task == 'det':  # strides as used by the anchors (seg ResNets are dilated on purpose)
        assert [64 // o.shape[2] for o in outs] == cfg.backbone_strides
        assert [96 // o.shape[3] for o in outs] == cfg.backbone_strides
        assert cfg.model.rpn_head.anchor_generator.strides[:len(outs)] == cfg.backbone_strides
    assert cfg.backbone_strides[0] * cfg.input_downscale == 4


# ------------------------------------------------------------------------ smoke runs
@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """Backbone files exported from random students: {arch: path}."""
    from kd_transfer.export import export_backbone
    from kd_transfer.models import build_arch
    out = {}
    root = tmp_path_factory.mktemp('exported')
    for arch in ('resnet18', 'mobilenetv2', 'resnet8x4'):
        src = root / f'{arch}_src.pth'
        state = build_arch(arch).state_dict()
        torch.save(state if arch != 'resnet8x4' else {'model': state, 'epoch': 240}, src)
        out[arch] = root / f'{arch}.pth'
        assert export_backbone(str(src), str(out[arch]))['arch'] == arch
    return out


@pytest.fixture(scope='module')
def data_with_coco_semseg(synthetic_data, tmp_path_factory):
    """synthetic_data plus data/coco/semseg_{coco80,voc20} written by the converter."""
    from kd_transfer.datasets import convert_coco_to_semseg
    root = tmp_path_factory.mktemp('data')
    (root / 'coco').mkdir()
    os.symlink(synthetic_data / 'VOCdevkit', root / 'VOCdevkit')
    for item in (synthetic_data / 'coco').iterdir():
        os.symlink(item, root / 'coco' / item.name)
    for variant in ('coco80', 'voc20'):
        convert_coco_to_semseg(root / 'coco', root / 'coco' / f'semseg_{variant}', classes=variant,
                               log=lambda msg: None)
    return root


SMOKE = [
    ('configs/transfer/det/faster-rcnn_resnet18_fpn_voc07.py', 'pascal_voc/mAP'),
    ('configs/transfer/det/faster-rcnn_resnet8x4_fpn_1x_coco.py', 'coco/bbox_mAP'),
    ('configs/transfer/seg/deeplabv3plus_mobilenetv2_voc07.py', 'mIoU'),
    ('configs/transfer/seg/deeplabv3_resnet18_coco80.py', 'mIoU'),
]


@pytest.mark.parametrize('rel,metric', SMOKE)
def test_tiny_train_and_eval(rel, metric, data_with_coco_semseg, exported, tmp_path):
    cfg = tiny_overrides(load(rel), data_with_coco_semseg, tmp_path / 'work',
                         checkpoint=exported[student_of(rel)])
    runner = Runner.from_cfg(cfg)
    backbone = runner.model.backbone
    runner.train()
    assert runner.iter == 2
    metrics = runner.val()
    assert metric in metrics and 0 <= float(metrics[metric]) <= 100, metrics
    # the exported weights were loaded before training; only the unused head was not filled
    assert backbone.is_init and backbone.init_cfg['checkpoint'] == str(exported[student_of(rel)])
    log = next((tmp_path / 'work').glob('*/*.log')).read_text()
    missing = {k for line in re.findall(r'missing keys in source state_dict: (.*)', log)
               for k in line.split(', ')}
    assert missing == {'resnet18': set(),
                       'mobilenetv2': {'classifier.1.weight', 'classifier.1.bias'},
                       'resnet8x4': {'fc.weight', 'fc.bias'}}[student_of(rel)]
    assert 'unexpected key in source' not in log
