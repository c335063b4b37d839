"""The synthetic data generator: layout, formats, determinism, atomic writes."""
import json
import pickle
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kd_transfer.datasets import synthetic
from kd_transfer.datasets.class_names import (CIFAR100_COARSE, CIFAR100_FINE, COCO_CATEGORIES,
                                              VOC_CLASSES)
from kd_transfer.datasets.shapes import rasterize_polygon
from kd_transfer.datasets.synthetic import make_synthetic_data

TINY = dict(num_train=3, num_val=2, image_size=48, cifar_train=12, cifar_test=6)


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*'))
            if p.is_file()}


def test_two_runs_give_identical_bytes(tmp_path):
    a = make_synthetic_data(tmp_path / 'a', seed=3, log=lambda m: None, **TINY)
    b = make_synthetic_data(tmp_path / 'b', seed=3, log=lambda m: None, **TINY)
    tree_a, tree_b = _tree(a), _tree(b)
    # VOC jpg/xml/png, 8 image sets, COCO jpg, 2 json, 3 CIFAR pickles, synthetic_info.json,
    # the manifest (--force replaces only what it lists)
    assert len(tree_a) == 5 * 3 + 8 + 5 + 2 + 3 + 1 + 1
    assert tree_a == tree_b
    c = make_synthetic_data(tmp_path / 'c', seed=4, log=lambda m: None, **TINY)
    assert _tree(c) != tree_a


def test_refuses_non_empty_dir_and_force_replaces(tmp_path, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'keep.txt').write_text('x')
    with pytest.raises(FileExistsError, match='--force'):
        make_synthetic_data(out, log=lambda m: None, **TINY)
    assert (out / 'keep.txt').exists()
    # --force replaces only a directory the tool wrote (tests/test_datasets/
    # test_force_own_files.py): keep.txt is not deleted
    with pytest.raises(FileExistsError, match='was not written by this tool'):
        make_synthetic_data(out, force=True, log=lambda m: None, **TINY)
    (out / 'keep.txt').unlink()
    make_synthetic_data(out, log=lambda m: None, **TINY)
    make_synthetic_data(out, force=True, **TINY)
    assert (out / 'VOCdevkit' / 'VOC2007' / 'JPEGImages' / '000001.jpg').is_file()
    assert 'done' in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ['out']  # no temporary directory left


def test_failure_leaves_nothing_behind(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError('disk full')

    monkeypatch.setattr(synthetic, 'write_cifar100', boom)
    with pytest.raises(RuntimeError, match='disk full'):
        make_synthetic_data(tmp_path / 'out', log=lambda m: None, **TINY)
    assert list(tmp_path.iterdir()) == []


def test_bad_sizes_are_refused(tmp_path):
    with pytest.raises(ValueError, match='image_size'):
        make_synthetic_data(tmp_path / 'out', image_size=8)
    assert not (tmp_path / 'out').exists()


def test_voc_layout_and_annotations(synthetic_data):
    voc = synthetic_data / 'VOCdevkit' / 'VOC2007'
    main = voc / 'ImageSets' / 'Main'
    trainval = main.joinpath('trainval.txt').read_text().split()
    test = main.joinpath('test.txt').read_text().split()
    assert trainval == [f'{i:06d}' for i in range(1, 9)] and test == ['000009', '000010',
                                                                      '000011', '000012']
    assert sorted(main.joinpath('train.txt').read_text().split()
                  + main.joinpath('val.txt').read_text().split()) == trainval
    seg_sets = voc / 'ImageSets' / 'Segmentation'
    assert seg_sets.joinpath('train.txt').read_text().split() == trainval
    assert seg_sets.joinpath('val.txt').read_text().split() == test
    # issue 13 item 10: as in the real VOC2007, the segmentation trainval and test sets are
    # disjoint (the demo's VOC mIoU was measured on training images)
    seg_trainval = seg_sets.joinpath('trainval.txt').read_text().split()
    seg_test = seg_sets.joinpath('test.txt').read_text().split()
    assert seg_trainval == trainval and seg_test == test
    assert not set(seg_trainval) & set(seg_test)
    palette = None
    for image_id in trainval + test:
        root = ET.parse(voc / 'Annotations' / f'{image_id}.xml').getroot()
        assert root.findtext('filename') == f'{image_id}.jpg'
        assert (root.findtext('size/width'), root.findtext('size/height')) == ('64', '64')
        image = Image.open(voc / 'JPEGImages' / f'{image_id}.jpg')
        assert (image.format, image.mode, image.size) == ('JPEG', 'RGB', (64, 64))
        seg = Image.open(voc / 'SegmentationClass' / f'{image_id}.png')
        assert seg.mode == 'P'
        palette = seg.getpalette()
        labels = np.array(seg)
        objects = root.findall('object')
        assert objects, 'every image has at least one object'
        for obj in objects:
            name = obj.findtext('name')
            assert name in VOC_CLASSES and obj.findtext('difficult') == '0'
            x0, y0, x1, y1 = (int(obj.findtext(f'bndbox/{k}')) for k in
                              ('xmin', 'ymin', 'xmax', 'ymax'))
            assert 1 <= x0 < x1 <= 64 and 1 <= y0 < y1 <= 64
            # inside the (1-based, inclusive) box the mask holds this class, border 255 or bg
            window = labels[y0 - 1:y1, x0 - 1:x1]
            assert (window == VOC_CLASSES.index(name) + 1).any()
            assert set(np.unique(window)) <= {0, 255, VOC_CLASSES.index(name) + 1}
            # the box is tight: its outer rows/columns touch the object or its border band
            assert (window[:, 0] != 0).any() and (window[:, -1] != 0).any()
            assert (window[0] != 0).any() and (window[-1] != 0).any()
        assert (labels == 255).any() and (labels == 0).any()
    # the VOC colour map: 1 -> (128, 0, 0), 15 (person) -> (192, 128, 128), 255 -> (224, 224, 192)
    assert palette[3:6] == [128, 0, 0] and palette[45:48] == [192, 128, 128]
    assert palette[765:768] == [224, 224, 192]


def test_coco_json_is_consistent(synthetic_data):
    coco = synthetic_data / 'coco'
    for split, n in (('train2017', 8), ('val2017', 4)):
        data = json.loads((coco / 'annotations' / f'instances_{split}.json').read_text())
        assert set(data) >= {'images', 'annotations', 'categories', 'info', 'licenses'}
        assert [(c['id'], c['name'], c['supercategory'])
                for c in data['categories']] == list(COCO_CATEGORIES)
        assert len(data['images']) == n
        ids = {img['id'] for img in data['images']}
        for img in data['images']:
            assert Image.open(coco / split / img['file_name']).size == (img['width'],
                                                                         img['height'])
        assert len({a['id'] for a in data['annotations']}) == len(data['annotations'])
        for ann in data['annotations']:
            assert ann['image_id'] in ids and ann['iscrowd'] == 0
            poly = np.array(ann['segmentation'][0]).reshape(-1, 2)
            x, y, w, h = ann['bbox']
            assert x == pytest.approx(poly[:, 0].min()) and y == pytest.approx(poly[:, 1].min())
            assert x + w == pytest.approx(poly[:, 0].max(), abs=0.011)
            assert y + h == pytest.approx(poly[:, 1].max(), abs=0.011)
            assert ann['area'] == rasterize_polygon(poly, 64, 64).sum()


def test_cifar_pickles_are_like_the_real_ones(synthetic_data):
    folder = synthetic_data / 'cifar100' / 'cifar-100-python'
    for split, n, batch_label in (('train', 64, b'training batch 1 of 1'),
                                  ('test', 32, b'testing batch 1 of 1')):
        with open(folder / split, 'rb') as f:
            d = pickle.load(f, encoding='bytes')
        assert set(d) == {b'data', b'fine_labels', b'coarse_labels', b'filenames',
                          b'batch_label'}
        assert d[b'data'].dtype == np.uint8 and d[b'data'].shape == (n, 3072)
        assert d[b'batch_label'] == batch_label and len(d[b'filenames']) == n
        assert all(isinstance(f, bytes) and f.endswith(b'.png') for f in d[b'filenames'])
        used = sorted(set(d[b'fine_labels']))
        assert used == sorted(CIFAR100_FINE.index(c[2]) for c in synthetic.CIFAR_CLASSES)
        # real superclasses: orange -> fruit_and_vegetables, rocket -> vehicles_2, ...
        coarse = dict(zip(d[b'fine_labels'], d[b'coarse_labels']))
        assert CIFAR100_COARSE[coarse[CIFAR100_FINE.index('orange')]] == 'fruit_and_vegetables'
        assert CIFAR100_COARSE[coarse[CIFAR100_FINE.index('rocket')]] == 'vehicles_2'
        # Python-2 style strings: torchvision's encoding='latin1' gives str keys
        with open(folder / split, 'rb') as f:
            d2 = pickle.load(f, encoding='latin1')
        assert np.array_equal(d2['data'], d[b'data']) and d2['fine_labels'] == d[b'fine_labels']
    with open(folder / 'meta', 'rb') as f:
        meta = pickle.load(f, encoding='bytes')
    assert meta[b'fine_label_names'][:3] == [b'apple', b'aquarium_fish', b'baby']
    assert len(meta[b'fine_label_names']) == 100 and len(meta[b'coarse_label_names']) == 20

