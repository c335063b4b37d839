"""Issue 7, item 5: bad inputs stop with an error naming the file / field and what was expected.

Already covered elsewhere (not repeated): ``load_checkpoint_file`` on missing / truncated files
(tests/test_safe_load.py), a teacher checkpoint of another architecture
(tests/test_models/test_distiller.py), exporter inputs (tests/test_export), the distillation
losses' own ``setup`` checks (tests/test_distill). Here the same faults arrive through the
user's entry points: tools/train.py, tools/test.py, a config's ``init_cfg`` and datasets.
NaN / Inf losses: test_finite_loss.py.
"""
import copy
import json
import shutil
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from kd_transfer.datasets.config_checks import check_datasets
from kd_transfer.testing import helpers as hh
from kd_transfer.tiny import tiny_overrides

pytestmark = pytest.mark.usefixtures('one_thread', 'no_leftover_processes')

CONFIGS = hh.REPO / 'configs'
VOC_DET = CONFIGS / 'transfer/det/faster-rcnn_resnet18_fpn_voc07.py'
COCO_DET = CONFIGS / 'transfer/det/faster-rcnn_resnet18_fpn_1x_coco.py'
VOC_SEG = CONFIGS / 'transfer/seg/deeplabv3plus_resnet18_voc07.py'


def truncated_copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes()[:src.stat().st_size // 2])
    return dst


# ------------------------------------------------------------ missing / truncated checkpoints
@pytest.mark.parametrize('fault', ['missing', 'truncated'])
def test_teacher_checkpoint_missing_or_truncated(tmp_path, teacher14, fault):
    from mmengine.registry import MODELS
    path = tmp_path / 'teacher.pth'
    if fault == 'truncated':
        truncated_copy(teacher14, path)
    err = FileNotFoundError if fault == 'missing' else RuntimeError
    with pytest.raises(err, match=r'teacher\.pth.*(does not exist|truncated)'):
        MODELS.build(dict(
            type='Distiller', teacher_checkpoint=str(path), distill_losses=[dict(type='KDLoss')],
            student=dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=8)),
            teacher=dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=14))))


@pytest.mark.parametrize('fault', ['missing', 'truncated'])
def test_resume_file_missing_or_truncated(tmp_path, cls_config, train_tool, teacher14, fault):
    path = tmp_path / 'epoch_3.pth'
    if fault == 'missing':
        with pytest.raises(FileNotFoundError, match=r"--resume '.*epoch_3\.pth': no such"):
            train_tool.main([str(cls_config(iters=1)), '--work-dir', str(tmp_path / 'w'),
                             '--resume', str(path)])
    else:
        truncated_copy(teacher14, path)
        with pytest.raises(RuntimeError, match=r'epoch_3\.pth.*truncated'):
            train_tool.main([str(cls_config(iters=1)), '--work-dir', str(tmp_path / 'w'),
                             '--resume', str(path)])


def test_test_tool_checkpoint_missing(tmp_path, cls_config):
    with pytest.raises(FileNotFoundError, match=r'nope\.pth.*does not exist'):
        hh.load_tool('test').main([str(cls_config(iters=1)), str(tmp_path / 'nope.pth')])


@pytest.mark.parametrize('fault', ['missing', 'truncated'])
def test_init_cfg_checkpoint_missing_or_truncated(tmp_path, teacher14, fault):
    from mmengine.registry import MODELS
    path = tmp_path / 'backbone.pth'
    if fault == 'truncated':
        truncated_copy(teacher14, path)
    model = MODELS.build(dict(type='CifarResNet', depth=8, out_indices=(0, 1, 2),
                              init_cfg=dict(type='Pretrained', checkpoint=str(path))))
    err = FileNotFoundError if fault == 'missing' else RuntimeError
    with pytest.raises(err, match=r'backbone\.pth.*(does not exist|truncated)'):
        model.init_weights()


# ------------------------------------------------------------ checkpoint of another arch
@pytest.fixture(scope='module')
def exports(tmp_path_factory):
    """Exported backbones (tools/export_backbone.py's library call): a torchvision resnet34,
    a resnet20 (CIFAR) and a resnet8x4 (the right one for the resnet8x4 configs)."""
    import torchvision

    from kd_transfer.export import export_backbone
    from kd_transfer.models import build_arch
    tmp = tmp_path_factory.mktemp('exports')
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet34().state_dict(), tmp / 'tv34.pth')
    torch.save({'model': build_arch('resnet20').state_dict()}, tmp / 'r20.pth')
    torch.save({'model': build_arch('resnet8x4').state_dict()}, tmp / 'r8x4.pth')
    out = {}
    for name, src in (('resnet34', 'tv34.pth'), ('resnet20', 'r20.pth'),
                      ('resnet8x4', 'r8x4.pth')):
        export_backbone(str(tmp / src), str(tmp / f'{name}_backbone.pth'), arch=name)
        out[name] = tmp / f'{name}_backbone.pth'
    return out


def _backbone(config: Path, checkpoint: Path):
    """The backbone of a transfer config with ``init_cfg.checkpoint`` set, in its scope."""
    import importlib

    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(str(config))
    cfg.merge_from_dict({'model.backbone.init_cfg.checkpoint': str(checkpoint)})
    importlib.import_module(f'{cfg.default_scope}.models')
    registry = importlib.import_module(f'{cfg.default_scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return registry.build(cfg.model.backbone)


def test_wrong_architecture_export_in_a_transfer_config_fails_loudly(exports):
    """An exported resnet34 given to the resnet18 Faster R-CNN config (mmdet's ResNet-18):
    mmengine's ``Pretrained`` would load layer1.0-1 etc. and only warn about the extra blocks;
    kd_transfer refuses, listing the keys and the export's architecture."""
    backbone = _backbone(VOC_DET, exports['resnet34'])
    before = backbone.layer1[0].conv1.weight.detach().clone()
    with pytest.raises(ValueError, match=r"resnet34_backbone\.pth.*ResNet \(depth 18\): 0 missing "
                       r"\[\], 80 unexpected \[layer1\.2\..*exported for 'resnet34'") as err:
        backbone.init_weights()
    assert 'Nothing was loaded' in str(err.value)
    assert torch.equal(backbone.layer1[0].conv1.weight, before)


def test_control_mmengine_pretrained_loads_the_wrong_export_silently(exports):
    """What the guard prevents: mmengine's own initializer loads the matching part."""
    from mmengine.model.weight_init import PretrainedInit

    from kd_transfer.safe_load import load_checkpoint_file
    backbone = _backbone(VOC_DET, exports['resnet34'])
    PretrainedInit(checkpoint=str(exports['resnet34']))(backbone)  # no error
    src = load_checkpoint_file(str(exports['resnet34']))['state_dict']
    assert torch.equal(backbone.layer1[0].conv1.weight, src['layer1.0.conv1.weight'])


def test_wrong_cifar_export_lists_mis_shaped_keys(exports):
    backbone = _backbone(CONFIGS / 'transfer/det/faster-rcnn_resnet8x4_fpn_voc07.py',
                         exports['resnet20'])
    with pytest.raises(ValueError, match=r"resnet20_backbone\.pth.*CifarResNet \(depth 8\).*"
                       r"5 missing \[layer1\.0\.downsample.*60 unexpected \[layer1\.1\..*"
                       r"45 mis-shaped \[bn1\.bias \(16,\) vs \(32,\)"):
        backbone.init_weights()


def test_right_export_loads_strictly(exports):
    """The resnet8x4 export fits its config exactly (only the unused classifier is absent)."""
    from kd_transfer.safe_load import load_checkpoint_file
    backbone = _backbone(CONFIGS / 'transfer/det/faster-rcnn_resnet8x4_fpn_voc07.py',
                         exports['resnet8x4'])
    backbone.init_weights()
    src = load_checkpoint_file(str(exports['resnet8x4']))['state_dict']
    for key, value in backbone.state_dict().items():
        if not key.startswith('fc.'):
            assert torch.equal(value, src[key]), key


def test_training_checkpoint_instead_of_export(tmp_path):
    """A Distiller training checkpoint given as the backbone: none of its keys fit (they all
    start with ``student.`` / ``teacher.``); mmengine would start from random weights."""
    from mmengine.registry import MODELS
    distiller = MODELS.build(dict(
        type='Distiller', distill_losses=[dict(type='KDLoss')],
        student=dict(type='KDClassifier', backbone=dict(type='TVResNet', depth=18)),
        teacher=dict(type='KDClassifier', backbone=dict(type='TVResNet', depth=18))))
    path = tmp_path / 'epoch_240.pth'
    torch.save({'state_dict': distiller.state_dict(), 'meta': {}}, path)
    with pytest.raises(ValueError, match=r'epoch_240\.pth.*None of its keys fit.*export_backbone'):
        _backbone(VOC_DET, path).init_weights()


# ------------------------------------------------------------ mismatching feature specs
@pytest.mark.parametrize('loss, message', [
    (dict(type='ATLoss'), r'ATLoss: the student has 4 entries in "stages" and the teacher 5'),
    (dict(type='FitNetsLoss', hint_layer=4), r"FitNetsLoss: student 'stages' has 4 entries, "
                                             'index 4 is out of range'),
    (dict(type='ReviewKDLoss'), r'ReviewKDLoss: 4 student levels .* vs 5 teacher levels'),
])
def test_teacher_and_student_feature_specs_do_not_match(loss, message):
    """resnet8 (CIFAR, 3 stages) distilled from an ImageNet ResNet-18 (4 stages)."""
    from mmengine.registry import MODELS
    with pytest.raises(ValueError, match=message):
        MODELS.build(dict(
            type='Distiller', distill_losses=[loss],
            student=dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=8)),
            teacher=dict(type='KDClassifier', backbone=dict(type='TVResNet', depth=18,
                                                             num_classes=100))))


def test_unknown_method_through_train_tool(tmp_path, cls_config, train_tool):
    cfg = cls_config(iters=1, extra="model['distill_losses'] = [dict(type='FitNetz')]\n")
    with pytest.raises(ValueError, match=r"unknown distillation method 'FitNetz'; known methods:"
                                         r".*'fitnets' \(FitNetsLoss\)"):
        train_tool.main([str(cfg), '--work-dir', str(tmp_path / 'w')])


# ------------------------------------------------------------ missing data
def tiny(config: Path, root: Path, tmp_path: Path) -> Config:
    return tiny_overrides(Config.fromfile(str(config)), data_root=str(root),
                          work_dir=str(tmp_path / 'work'))


@pytest.mark.parametrize('config, remove, message', [
    (VOC_DET, None,
     r"train_dataloader.*VOCDataset.*data_root '.*nowhere/VOCdevkit/?' does not exist"),
    (VOC_DET, 'VOCdevkit/VOC2007/ImageSets/Main/trainval.txt',
     r"ann_file '.*VOC2007/ImageSets/Main/trainval\.txt' does not exist"),
    (COCO_DET, 'coco/annotations/instances_train2017.json',
     r"CocoDataset.*ann_file '.*coco/annotations/instances_train2017\.json' does not exist"),
    (VOC_SEG, 'VOCdevkit/VOC2007/ImageSets/Segmentation/trainval.txt',
     r"PascalVOCDataset.*ann_file '.*Segmentation/trainval\.txt' does not exist"),
])
def test_missing_dataset_root_or_annotation_file(config, remove, message, synthetic_data,
                                                 tmp_path):
    root = tmp_path / 'nowhere'
    if remove is not None:
        root = tmp_path / 'data'
        shutil.copytree(synthetic_data, root)
        (root / remove).unlink()
    with pytest.raises(FileNotFoundError, match=message):
        check_datasets(tiny(config, root, tmp_path))


@pytest.mark.parametrize('config, field', [
    ('distill/cifar100/kd_resnet56_resnet20.py', 'CIFAR100Pickle'),
    ('distill/imagenet/kd_resnet34_resnet18.py', 'ImageFolderCls'),
])
def test_missing_classification_data_through_train_tool(config, field, tmp_path, train_tool):
    """Stops before any model is built (the teacher checkpoint of these configs does not exist
    either: the data check comes first)."""
    with pytest.raises(FileNotFoundError, match=rf"{field}.*data_root '.*missing' does not exist"):
        train_tool.main([str(CONFIGS / config), '--work-dir', str(tmp_path / 'w'),
                         '--cfg-options', f'train_dataloader.dataset.data_root={tmp_path}/missing'])


# ------------------------------------------------------------ empty data
def test_empty_voc_image_set(synthetic_data, tmp_path):
    root = tmp_path / 'data'
    shutil.copytree(synthetic_data, root)
    (root / 'VOCdevkit/VOC2007/ImageSets/Main/trainval.txt').write_text('')
    with pytest.raises(ValueError, match=r'image-set file .*trainval\.txt lists no image id'):
        check_datasets(tiny(VOC_DET, root, tmp_path))


def test_empty_coco_split(synthetic_data, tmp_path):
    root = tmp_path / 'data'
    shutil.copytree(synthetic_data, root)
    ann = root / 'coco/annotations/instances_train2017.json'
    ann.write_text(json.dumps(dict(json.loads(ann.read_text()), images=[], annotations=[])))
    with pytest.raises(ValueError, match=r'instances_train2017\.json leaves no usable image '
                                         r'\(empty dataset\)'):
        check_datasets(tiny(COCO_DET, root, tmp_path))


def test_empty_classification_dataset_through_train_tool(tmp_path, cls_config, train_tool):
    """``indices=0`` stands for a CIFAR pickle without images."""
    cfg = cls_config(epochs=1, num_images=0)
    with pytest.raises(ValueError, match=r"train_dataloader: the dataset is empty "
                                         r"\(type='CIFAR100Pickle', data_root='.*cifar100'"):
        train_tool.main([str(cfg), '--work-dir', str(tmp_path / 'w')])


def test_control_mmengine_on_an_empty_dataset_names_nothing(tmp_path, cls_config):
    """What ``check_not_empty`` replaces: mmengine's sampler divides by the dataset length."""
    from mmengine.runner import Runner
    cfg = Config.fromfile(str(cls_config(epochs=1, num_images=0)))
    cfg.work_dir = str(tmp_path / 'w')
    with pytest.raises(ZeroDivisionError) as err:
        Runner.from_cfg(cfg).train()
    assert 'cifar' not in str(err.value).lower()


# ------------------------------------------------------------ malformed annotations
@pytest.fixture()
def broken_voc(synthetic_data, tmp_path):
    """VOC with one truncated XML (000001) and one box without <xmin> (000002)."""
    root = tmp_path / 'data'
    shutil.copytree(synthetic_data / 'VOCdevkit', root / 'VOCdevkit')
    ann = root / 'VOCdevkit/VOC2007/Annotations'
    (ann / '000001.xml').write_text((ann / '000001.xml').read_text()[:80])
    text = (ann / '000002.xml').read_text()
    (ann / '000002.xml').write_text(text.replace('<xmin>', '<x>').replace('</xmin>', '</x>'))
    return root


def test_control_mmdet_error_on_malformed_voc_xml_names_no_file(broken_voc, tmp_path):
    from mmengine.registry import DATASETS, DefaultScope
    import mmdet.datasets  # noqa: F401
    cfg = tiny(VOC_DET, broken_voc, tmp_path)
    with DefaultScope.overwrite_default_scope('mmdet'):
        with pytest.raises(Exception) as err:
            DATASETS.build(cfg.train_dataloader.dataset.dataset)
    assert '000001.xml' not in str(err.value)


def test_malformed_voc_xml_fail_or_skip(broken_voc, tmp_path):
    cfg = tiny(VOC_DET, broken_voc, tmp_path)
    with pytest.raises(ValueError, match=r'2 malformed annotation\(s\) in .*trainval\.txt; first: '
                                         r'\[VOC annotation .*000001\.xml is not well-formed XML.*'
                                         r'000002\.xml: object 0 <bndbox><xmin> must be a number, '
                                         r"got None.*--on-bad-annotation skip"):
        check_datasets(copy.deepcopy(cfg))
    logged = []
    skipped = check_datasets(cfg, on_bad_annotation='skip',
                             log=lambda msg, **kw: logged.append(msg))
    assert list(skipped.values()) == [2] and 'skipped 2 malformed' in logged[0]
    new = Path(cfg.train_dataloader.dataset.dataset.ann_file)
    assert new.parent == tmp_path / 'work' / 'checked_annotations'
    assert new.read_text().split() == [f'{i:06d}' for i in range(3, 9)]
    from mmengine.registry import DATASETS, DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):  # mmdet reads the cleaned list
        dataset = DATASETS.build(cfg.train_dataloader.dataset.dataset)
    assert {Path(d['img_path']).stem for d in dataset.data_list} <= set(new.read_text().split())


@pytest.fixture()
def broken_coco(synthetic_data, tmp_path):
    """COCO val2017 with a 2-number bbox and an unknown category (annotations 0 and 1)."""
    root = tmp_path / 'data'
    shutil.copytree(synthetic_data / 'coco', root / 'coco')
    ann = root / 'coco/annotations/instances_val2017.json'
    data = json.loads(ann.read_text())
    data['annotations'][0]['bbox'] = [1, 2]
    data['annotations'][1]['category_id'] = 999
    ann.write_text(json.dumps(data))
    return root, len(data['annotations'])


def test_malformed_coco_json_fail_or_skip(broken_coco, tmp_path):
    root, total = broken_coco
    cfg = tiny(COCO_DET, root, tmp_path)
    with pytest.raises(ValueError, match=r'val_dataloader.*2 malformed annotation\(s\) in '
                                         r'.*instances_val2017\.json; first: \[.*annotations\[0\] '
                                         r'"bbox" must be \[x, y, w, h\] \(4 finite numbers\), '
                                         r'got \[1, 2\].*annotations\[1\] "category_id" 999'):
        check_datasets(copy.deepcopy(cfg))
    assert check_datasets(cfg, on_bad_annotation='skip', log=lambda *a, **k: None)
    new = cfg.val_dataloader.dataset.ann_file
    assert json.loads(Path(new).read_text())['annotations'].__len__() == total - 2
    assert cfg.val_evaluator.ann_file == new  # CocoMetric reads the same cleaned file


def test_truncated_coco_json(broken_coco, tmp_path):
    root, _ = broken_coco
    ann = root / 'coco/annotations/instances_train2017.json'
    ann.write_text(ann.read_text()[:-20])
    with pytest.raises(ValueError, match=r'instances_train2017\.json is not valid JSON .*COCO '
                                         'instances format'):
        check_datasets(tiny(COCO_DET, root, tmp_path))


def test_malformed_annotation_through_train_tool(broken_voc, tmp_path, train_tool):
    """tools/train.py stops before building anything; the flag is on its command line."""
    cfg = tiny(VOC_DET, broken_voc, tmp_path)
    cfg.dump(str(tmp_path / 'voc.py'))
    with pytest.raises(ValueError, match=r'000001\.xml is not well-formed'):
        train_tool.main([str(tmp_path / 'voc.py'), '--work-dir', str(tmp_path / 'w'),
                         '--on-bad-annotation', 'fail'])
