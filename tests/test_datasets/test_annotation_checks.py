"""Issue 13, items 9 and 11: annotation, image and mask faults stop ``check_datasets`` (the
first thing tools/train.py and tools/test.py run) with an error naming the file and field,
instead of a silent drop, a mislabelled class or a crash mid-run.

Each fault is written into a copy of the synthetic data; on the code before this change
every ``check_datasets`` call here returned without a word.
"""
import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

from kd_transfer.datasets.config_checks import check_datasets
from kd_transfer.testing import helpers as hh
from kd_transfer.tiny import tiny_overrides

pytestmark = pytest.mark.usefixtures('one_thread', 'no_leftover_processes')

CONFIGS = hh.REPO / 'configs'
VOC_DET = CONFIGS / 'transfer/det/faster-rcnn_resnet18_fpn_voc07.py'
COCO_DET = CONFIGS / 'transfer/det/faster-rcnn_resnet18_fpn_1x_coco.py'
VOC_SEG = CONFIGS / 'transfer/seg/deeplabv3plus_resnet18_voc07.py'
COCO_SEG = CONFIGS / 'transfer/seg/deeplabv3plus_resnet18_coco80.py'


def tiny(config: Path, root: Path, tmp_path: Path) -> Config:
    return tiny_overrides(Config.fromfile(str(config)), data_root=str(root),
                          work_dir=str(tmp_path / 'work'))


def quiet(*args, **kwargs):
    pass


@pytest.fixture()
def data(synthetic_data, tmp_path):
    root = tmp_path / 'data'
    shutil.copytree(synthetic_data, root)
    return root


VOC = Path('VOCdevkit/VOC2007')


# ------------------------------------------------------------------ VOC XML
def edit_xml(root: Path, image_id: str, old: str, new: str) -> None:
    xml = root / VOC / 'Annotations' / f'{image_id}.xml'
    text = xml.read_text()
    assert old in text
    xml.write_text(text.replace(old, new, 1))


def first_object_name(root: Path, image_id: str) -> str:
    text = (root / VOC / 'Annotations' / f'{image_id}.xml').read_text()
    return text.split('<object>')[1].split('<name>')[1].split('</name>')[0]


def test_voc_object_of_unknown_class_is_named(data, tmp_path):
    """mmdet dropped such objects silently (21 -> 15 objects in the issue)."""
    name = first_object_name(data, '000003')
    edit_xml(data, '000003', f'<name>{name}</name>', '<name>persn</name>')
    cfg = tiny(VOC_DET, data, tmp_path)
    with pytest.raises(ValueError, match=r"000003\.xml: object 0 <name> 'persn' is not one of "
                                         r'the dataset classes \(aeroplane, bicycle'):
        check_datasets(copy.deepcopy(cfg))
    logged = []
    assert list(check_datasets(cfg, on_bad_annotation='skip',
                               log=lambda m, **k: logged.append(m)).values()) == [1]
    assert "'persn'" in logged[0]
    kept = Path(cfg.train_dataloader.dataset.dataset.ann_file).read_text().split()
    assert '000003' not in kept and len(kept) == 7


@pytest.mark.parametrize('field, old, new, message', [
    ('xmin', '<xmin>', '<xmin>nan', r"<bndbox><xmin> must be a finite number, got '"),
    ('ymax', '<ymax>', '<ymax>inf', r"<bndbox><ymax> must be a finite number, got '"),
    ('difficult', '<difficult>0</difficult>', '<difficult>yes</difficult>',
     r"<difficult> must be 0 or 1, got 'yes'"),
])
def test_voc_nan_inf_difficult_are_named(data, tmp_path, field, old, new, message):
    """They passed the check and crashed later ("cannot convert float NaN to integer")."""
    xml = data / VOC / 'Annotations' / '000002.xml'
    text = xml.read_text()
    if field in ('xmin', 'ymax'):  # replace the whole number by nan / inf
        start = text.index(old) + len(old)
        end = text.index('<', start)
        text = text[:start] + new[len(old):] + text[end:]
    else:
        text = text.replace(old, new, 1)
    xml.write_text(text)
    with pytest.raises(ValueError, match=r'000002\.xml: object 0 ' + message):
        check_datasets(tiny(VOC_DET, data, tmp_path))


# ------------------------------------------------------------------ COCO json
def edit_json(root: Path, split: str, change) -> dict:
    path = root / 'coco' / 'annotations' / f'instances_{split}.json'
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return data


def rename(data, old, new):
    next(c for c in data['categories'] if c['name'] == old)['name'] = new


@pytest.mark.parametrize('change, message', [
    # named differently from the class list: mmdet lost all its annotations
    (lambda d: rename(d, 'car', 'automobile'),
     r"name 'automobile' \(id 3\) is not one of the 80 dataset classes; mmdet would drop"),
    # duplicated id: mmdet gave its annotations label 80, i.e. background
    (lambda d: d['categories'].__setitem__(3, dict(d['categories'][3], id=1)),
     r"categories\[3\] \('motorcycle'\) repeats the id 1 of categories\[0\]"),
    (lambda d: d['categories'].__setitem__(3, dict(d['categories'][3], name='person')),
     r"categories\[3\] repeats the name 'person' of categories\[0\]"),
    (lambda d: d['categories'].insert(0, d['categories'].pop(2)),
     r"not in the order of the dataset classes \(class 0 is 'person', category 'car'\)"),
])
@pytest.mark.parametrize('mode', ['fail', 'skip'])
def test_coco_categories_that_mislabel_are_refused(data, tmp_path, change, message, mode):
    edit_json(data, 'train2017', change)
    with pytest.raises(ValueError, match=r'instances_train2017\.json: .*' + message):
        check_datasets(tiny(COCO_DET, data, tmp_path), on_bad_annotation=mode, log=quiet)


def test_coco_class_without_category_is_refused(data, tmp_path):
    """With metainfo classes a renamed category is not an error by itself (other categories
    are deliberately left out) but the class it was meant for has no category."""
    edit_json(data, 'val2017', lambda d: rename(d, 'dog', 'doggo'))
    cfg = tiny(COCO_DET, data, tmp_path)
    cfg.val_dataloader.dataset.metainfo = dict(classes=('person', 'car', 'dog'))
    with pytest.raises(ValueError, match=r"instances_val2017\.json: no category is named "
                                         r"\[dog\]"):
        check_datasets(cfg, loaders=('val_dataloader', ))


def test_duplicated_coco_image_id(data, tmp_path):
    """With skip, image 2 was trained with image 1's boxes; now both are left out."""
    def duplicate(d):
        d['images'][1]['id'] = d['images'][0]['id']
    before = edit_json(data, 'train2017', duplicate)
    cfg = tiny(COCO_DET, data, tmp_path)
    name0, name1 = before['images'][0]['file_name'], before['images'][1]['file_name']
    with pytest.raises(ValueError, match=rf"images\[0\] \({name0}\) shares image id "
                                         rf"{before['images'][0]['id']} with 1 other"):
        check_datasets(copy.deepcopy(cfg))
    assert check_datasets(cfg, on_bad_annotation='skip', log=quiet)
    cleaned = json.loads(Path(cfg.train_dataloader.dataset.ann_file).read_text())
    names = [img['file_name'] for img in cleaned['images']]
    assert name0 not in names and name1 not in names and len(names) == 6
    ids = [img['id'] for img in cleaned['images']]
    assert len(set(ids)) == len(ids)
    assert {a['image_id'] for a in cleaned['annotations']} <= set(ids)


# ------------------------------------------------------------------ unreadable images
def break_image(path: Path, fault: str) -> None:
    if fault == 'empty':
        path.write_bytes(b'')
    elif fault == 'garbage':
        path.write_bytes(b'this is not a JPEG at all' * 20)
    else:  # truncated half-way, as an interrupted download
        path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


@pytest.mark.parametrize('fault, message', [
    ('empty', r'is empty \(0 bytes\)'),
    ('garbage', r'is not a readable image'),
    ('truncated', r'is a truncated JPEG'),
])
def test_unreadable_images_are_named(data, tmp_path, fault, message):
    """They crashed at the iteration that read them (the empty one on an OpenCV assertion
    without a file name)."""
    break_image(data / VOC / 'JPEGImages' / '000004.jpg', fault)
    with pytest.raises(ValueError, match=r'image .*000004\.jpg ' + message):
        check_datasets(tiny(VOC_DET, data, tmp_path))
    coco_img = sorted((data / 'coco' / 'val2017').glob('*.jpg'))[1]
    break_image(coco_img, fault)
    with pytest.raises(ValueError, match=rf'images\[1\] image .*{coco_img.name} ' + message):
        check_datasets(tiny(COCO_DET, data, tmp_path), loaders=('val_dataloader', ))
    with pytest.raises(ValueError, match=r'image .*000004\.jpg ' + message):
        check_datasets(tiny(VOC_SEG, data, tmp_path), loaders=('train_dataloader', ))


def test_control_mmcv_on_an_empty_jpeg_names_no_file(data):
    """What the check replaces: mmcv's loader fails on an OpenCV assertion."""
    from mmcv.transforms import LoadImageFromFile
    path = data / VOC / 'JPEGImages' / '000004.jpg'
    path.write_bytes(b'')
    with pytest.raises(Exception) as err:
        LoadImageFromFile()(dict(img_path=str(path)))
    assert '000004' not in str(err.value)


# ------------------------------------------------------------------ segmentation masks
def mask_path(root: Path, image_id: str) -> Path:
    return root / VOC / 'SegmentationClass' / f'{image_id}.png'


def rewrite_mask(path: Path, fault: str) -> None:
    labels = np.array(Image.open(path))
    if fault == 'value':
        labels[0, :5] = 30  # not one of the 21 classes, not 255
        Image.fromarray(labels).save(path)
    elif fault == 'rgb':
        Image.open(path).convert('RGB').save(path)
    elif fault == 'size':
        Image.fromarray(labels[:-3]).save(path)
    else:
        path.unlink()


@pytest.mark.parametrize('fault, message', [
    ('value', r'holds label value\(s\) \[30\] outside the 21 classes \(expected 0\.\.20, or '
              r'255 = ignore\)'),
    ('rgb', r"has mode 'RGB': expected one label per pixel"),
    ('size', r'is 64 x 61 \(width x height\) but its image .*000006\.jpg is 64 x 64'),
    ('missing', r'not found'),
])
def test_bad_voc_masks_are_named(data, tmp_path, fault, message):
    """Out-of-range values lowered the mIoU without a warning (14.22 -> 10.55); RGB, missing
    and wrong-size masks crashed training."""
    rewrite_mask(mask_path(data, '000006'), fault)
    cfg = tiny(VOC_SEG, data, tmp_path)
    with pytest.raises(ValueError, match=r'train_dataloader.*1 malformed annotation.*mask '
                                         r'.*SegmentationClass/000006\.png ' + message):
        check_datasets(copy.deepcopy(cfg), loaders=('train_dataloader', ))
    assert check_datasets(cfg, loaders=('train_dataloader', ), on_bad_annotation='skip',
                          log=quiet)
    kept = Path(cfg.train_dataloader.dataset.ann_file).read_text().split()
    assert kept == [f'{i:06d}' for i in range(1, 9) if i != 6]


def test_mmseg_reads_the_cleaned_list(data, tmp_path):
    from mmengine.registry import DATASETS, DefaultScope
    import mmseg.datasets  # noqa: F401
    rewrite_mask(mask_path(data, '000002'), 'value')
    cfg = tiny(VOC_SEG, data, tmp_path)
    check_datasets(cfg, loaders=('train_dataloader', ), on_bad_annotation='skip', log=quiet)
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg.pipeline = []
    with DefaultScope.overwrite_default_scope('mmseg'):
        ds = DATASETS.build(ds_cfg)
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert sorted(Path(d['seg_map_path']).stem for d in infos) == \
        [f'{i:06d}' for i in range(1, 9) if i != 2]


def test_bad_coco_semseg_mask_is_named(data, tmp_path):
    """COCOSemSegDataset (no ann_file: mmseg lists the image directory)."""
    from kd_transfer.datasets.coco_semseg import convert_coco_to_semseg
    convert_coco_to_semseg(data / 'coco', data / 'coco' / 'semseg_coco80', log=quiet)
    cfg = tiny(COCO_SEG, data, tmp_path)
    check_datasets(copy.deepcopy(cfg), loaders=('train_dataloader', 'val_dataloader'))
    bad = sorted((data / 'coco' / 'semseg_coco80' / 'val2017').glob('*.png'))[0]
    labels = np.array(Image.open(bad))
    labels[3, 3] = 81
    Image.fromarray(labels).save(bad)
    with pytest.raises(ValueError, match=rf'mask .*val2017/{bad.name} holds label value\(s\) '
                                         r'\[81\] outside the 81 classes'):
        check_datasets(copy.deepcopy(cfg), loaders=('val_dataloader', ))
    assert check_datasets(cfg, loaders=('val_dataloader', ), on_bad_annotation='skip',
                          log=quiet)
    kept = Path(cfg.val_dataloader.dataset.ann_file).read_text().split()
    assert len(kept) == 3 and bad.stem not in kept
