"""COCO -> semantic masks on annotations in the exact structure of the official
``instances_*2017.json`` (issue 10, item 3).

Every pixel of the converter's masks is compared with an independent rasterisation: the
instance masks come from pycocotools' ``COCO.annToMask`` and the overlap rule is written
again here, per pixel (see ``expected_labels``), not by painting in order.
"""
import copy
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kd_transfer.datasets.class_names import COCO_CATEGORIES, COCO_TO_VOC, VOC_CLASSES
from kd_transfer.datasets.coco_semseg import convert_coco_to_semseg

H, W = 37, 53  # an odd size: rows != columns, neither a multiple of 8
TOOL = Path(__file__).resolve().parents[2] / 'tools' / 'coco_to_semseg.py'


def column_major_runs(mask: np.ndarray) -> list:
    """Uncompressed COCO RLE counts of a bool mask, computed here by hand: run lengths of the
    column-major (Fortran order) pixel sequence, starting with a run of zeros."""
    flat = mask.flatten(order='F').astype(int)
    counts, current, run = [], 0, 0
    for v in flat:
        if v == current:
            run += 1
        else:
            counts.append(run)
            current, run = v, 1
    counts.append(run)
    return counts


def box(r0, r1, c0, c1):
    m = np.zeros((H, W), bool)
    m[r0:r1, c0:c1] = True
    return m


def official_json():
    """Two images in the official layout (info / licenses / images / annotations /
    categories) with real category ids."""
    crowd_people = box(2, 20, 30, 50)  # iscrowd=1, uncompressed RLE, as in the official files
    crowd_books = box(25, 35, 0, 10)   # a crowd of a non-VOC category
    compressed_dog = box(28, 36, 40, 52)
    images = [
        dict(license=1, file_name='000000000139.jpg', height=H, width=W,
             coco_url='http://images.cocodataset.org/val2017/000000000139.jpg',
             date_captured='2013-11-21 01:34:01', flickr_url='', id=139),
        dict(license=2, file_name='000000000632.jpg', height=H, width=W,
             coco_url='http://images.cocodataset.org/val2017/000000000632.jpg',
             date_captured='2013-11-20 21:14:01', flickr_url='', id=632),
    ]
    annotations = [
        # a potted plant, and a smaller vase lying on it (the example)
        dict(segmentation=[[3.2, 4.7, 20.5, 3.1, 22.8, 24.4, 4.1, 22.9]], area=330.0,
             iscrowd=0, image_id=139, bbox=[3.2, 3.1, 19.6, 21.3], category_id=64, id=101),
        dict(segmentation=[[8.5, 10.5, 15.5, 10.5, 15.5, 30.5, 8.5, 30.5]], area=140.0,
             iscrowd=0, image_id=139, bbox=[8.5, 10.5, 7.0, 20.0], category_id=86, id=102),
        # a chair in two parts (multi-polygon instance), partly under the plant
        dict(segmentation=[[0.0, 0.0, 6.0, 0.0, 6.0, 8.0, 0.0, 8.0],
                           [18.3, 20.2, 27.9, 21.0, 26.4, 33.6, 17.1, 31.8, 16.0, 26.0]],
             area=150.0, iscrowd=0, image_id=139, bbox=[0.0, 0.0, 27.9, 33.6],
             category_id=62, id=103),
        # a crowd of people (uncompressed RLE) with two single people over / beside it
        dict(segmentation=dict(counts=column_major_runs(crowd_people), size=[H, W]),
             area=float(crowd_people.sum()), iscrowd=1, image_id=139,
             bbox=[30.0, 2.0, 20.0, 18.0], category_id=1, id=900100139),
        dict(segmentation=[[33.0, 5.0, 40.0, 5.0, 40.0, 26.0, 33.0, 26.0]], area=147.0,
             iscrowd=0, image_id=139, bbox=[33.0, 5.0, 7.0, 21.0], category_id=1, id=104),
        # a tie (non-VOC) on that person, and a bottle (VOC) on the tie
        dict(segmentation=[[35.0, 8.0, 38.0, 8.0, 38.0, 18.0, 35.0, 18.0]], area=30.0,
             iscrowd=0, image_id=139, bbox=[35.0, 8.0, 3.0, 10.0], category_id=32, id=105),
        dict(segmentation=[[36.0, 14.0, 37.5, 14.0, 37.5, 22.0, 36.0, 22.0]], area=12.0,
             iscrowd=0, image_id=139, bbox=[36.0, 14.0, 1.5, 8.0], category_id=44, id=106),
        # image 632: a bed (non-VOC) under a dog given as compressed RLE (string counts),
        # a crowd of books (uncompressed RLE), a cat and a horse of equal area overlapping
        dict(segmentation=[[1.0, 1.0, 52.0, 1.0, 52.0, 36.0, 1.0, 36.0]], area=1785.0,
             iscrowd=0, image_id=632, bbox=[1.0, 1.0, 51.0, 35.0], category_id=65, id=201),
        dict(segmentation=None, area=float(compressed_dog.sum()), iscrowd=0, image_id=632,
             bbox=[40.0, 28.0, 12.0, 8.0], category_id=18, id=202),
        dict(segmentation=dict(counts=column_major_runs(crowd_books), size=[H, W]),
             area=float(crowd_books.sum()), iscrowd=1, image_id=632,
             bbox=[0.0, 25.0, 10.0, 10.0], category_id=84, id=900100632),
        dict(segmentation=[[5.0, 3.0, 15.0, 3.0, 15.0, 13.0, 5.0, 13.0]], area=100.0,
             iscrowd=0, image_id=632, bbox=[5.0, 3.0, 10.0, 10.0], category_id=17, id=203),
        dict(segmentation=[[10.0, 8.0, 20.0, 8.0, 20.0, 18.0, 10.0, 18.0]], area=100.0,
             iscrowd=0, image_id=632, bbox=[10.0, 8.0, 10.0, 10.0], category_id=19, id=204),
        # a person partly over the crowd of books
        dict(segmentation=[[4.0, 20.0, 14.0, 20.0, 14.0, 31.0, 4.0, 31.0]], area=110.0,
             iscrowd=0, image_id=632, bbox=[4.0, 20.0, 10.0, 11.0], category_id=1, id=205),
    ]
    from pycocotools import mask as mask_utils  # the compressed form as pycocotools writes it
    rle = mask_utils.encode(np.asfortranarray(compressed_dog.astype(np.uint8)))
    annotations[8]['segmentation'] = dict(size=[H, W], counts=rle['counts'].decode('ascii'))
    categories = [dict(supercategory=sup, id=cid, name=name)
                  for cid, name, sup in COCO_CATEGORIES]
    return dict(
        info=dict(description='COCO 2017 Dataset', url='http://cocodataset.org',
                  version='1.0', year=2017, contributor='COCO Consortium',
                  date_created='2017/09/01'),
        licenses=[dict(url='http://creativecommons.org/licenses/by-nc-sa/2.0/', id=1,
                       name='Attribution-NonCommercial-ShareAlike License'),
                  dict(url='http://creativecommons.org/licenses/by-nc/2.0/', id=2,
                       name='Attribution-NonCommercial License')],
        images=images, annotations=annotations, categories=categories)


def write_coco(root: Path, data: dict, split='val2017') -> Path:
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    (root / split).mkdir(exist_ok=True)
    for img in data['images']:
        Image.new('RGB', (img['width'], img['height'])).save(root / split / img['file_name'])
    (root / 'annotations' / f'instances_{split}.json').write_text(json.dumps(data))
    return root


def label_of(category_id: int, variant: str) -> int:
    """Label of a category, from the published class lists (0: outside the label space)."""
    name = next(n for cid, n, _ in COCO_CATEGORIES if cid == category_id)
    if variant == 'coco80':
        return 1 + [n for _, n, _ in COCO_CATEGORIES].index(name)
    return 1 + VOC_CLASSES.index(COCO_TO_VOC[name]) if name in COCO_TO_VOC else 0


def expected_labels(coco, image_id: int, variant: str) -> np.ndarray:
    """The documented rule, pixel by pixel: the smallest non-crowd instance of the label
    space covering the pixel (equal areas: the later in the json) gives its label; else 255
    if a crowd region of the label space covers it; else 0."""
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id], iscrowd=None))
    masks = [(coco.annToMask(a).astype(bool), label_of(a['category_id'], variant),
              bool(a['iscrowd']), order) for order, a in enumerate(anns)]
    out = np.zeros((H, W), np.uint8)
    for r in range(H):
        for c in range(W):
            over = [(int(m.sum()), -order, label) for m, label, crowd, order in masks
                    if m[r, c] and label and not crowd]
            if over:
                out[r, c] = min(over)[2]
            elif any(m[r, c] and label and crowd for m, label, crowd, _ in masks):
                out[r, c] = 255
    return out


@pytest.fixture(scope='module')
def official(tmp_path_factory):
    return write_coco(tmp_path_factory.mktemp('official') / 'coco', official_json())


@pytest.mark.parametrize('variant', ['coco80', 'voc20'])
def test_every_pixel_matches_pycocotools(official, tmp_path, variant):
    from pycocotools.coco import COCO
    out = tmp_path / 'out'
    summary = convert_coco_to_semseg(official, out, classes=variant, splits=['val2017'],
                                     log=lambda m: None)
    assert summary == {'val2017': dict(images=2, annotations=13, skipped=0)}
    coco = COCO(str(official / 'annotations' / 'instances_val2017.json'))
    for image_id, stem in ((139, '000000000139'), (632, '000000000632')):
        mask = Image.open(out / 'val2017' / f'{stem}.png')
        assert mask.mode == 'P' and mask.size == (W, H)
        np.testing.assert_array_equal(np.array(mask), expected_labels(coco, image_id, variant),
                                      err_msg=f'image {image_id}, {variant}')


def test_voc20_vase_does_not_punch_holes_into_the_plant(official, tmp_path):
    """The issue's case, checked with the plant's own pycocotools mask."""
    from pycocotools.coco import COCO
    coco = COCO(str(official / 'annotations' / 'instances_val2017.json'))
    plant, vase = coco.loadAnns([101, 102])
    plant_mask = coco.annToMask(plant).astype(bool)
    overlap = plant_mask & coco.annToMask(vase).astype(bool)
    assert overlap.sum() > 50  # the vase really lies on the plant
    convert_coco_to_semseg(official, tmp_path / 'voc', classes='voc20', splits=['val2017'],
                           log=lambda m: None)
    labels = np.array(Image.open(tmp_path / 'voc' / 'val2017' / '000000000139.png'))
    pottedplant, chair = 1 + VOC_CLASSES.index('pottedplant'), 1 + VOC_CLASSES.index('chair')
    assert (labels[overlap] == pottedplant).all()
    # the plant keeps every pixel except where the (smaller) chair part lies on it
    assert set(np.unique(labels[plant_mask])) <= {pottedplant, chair}
    convert_coco_to_semseg(official, tmp_path / 'coco80', classes='coco80', splits=['val2017'],
                           log=lambda m: None)
    labels = np.array(Image.open(tmp_path / 'coco80' / 'val2017' / '000000000139.png'))
    assert (labels[overlap] == label_of(86, 'coco80')).all()  # coco80: the vase is on top


def test_uncompressed_crowd_rle_is_255_and_exact(official, tmp_path):
    """The crowd RLE decodes to the rectangle it was written from (hand check, no
    pycocotools): 255 where no single person lies on it."""
    convert_coco_to_semseg(official, tmp_path / 'out', classes='coco80', splits=['val2017'],
                           log=lambda m: None)
    labels = np.array(Image.open(tmp_path / 'out' / 'val2017' / '000000000139.png'))
    crowd = box(2, 20, 30, 50)
    person = box(5, 26, 33, 40)  # pixel centres inside [33, 40] x [5, 26]
    assert (labels[crowd & ~person] == 255).all()
    assert (labels[~crowd] != 255).all()
    assert (labels[person] != 0).all() and (labels[person] != 255).all()


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('coco_to_semseg_tool_official', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('on_error', ['fail', 'skip'])
def test_cli_keeps_images_with_crowd_rle(official, tmp_path, tool, capsys, on_error):
    """Issue 10 item 5: the tool refused (fail) or dropped (skip) images with an official
    uncompressed-RLE crowd annotation."""
    out = tmp_path / 'masks'
    assert tool.main([str(official), '--splits', 'val2017', '--on-error', on_error,
                      '--out', str(out)]) == 0
    printed = capsys.readouterr().out
    assert '2 masks from 13 annotations, 0 skipped' in printed
    assert sorted(p.name for p in (out / 'val2017').iterdir()) == ['000000000139.png',
                                                                  '000000000632.png']


def test_bad_uncompressed_rle_is_named_and_skipped_alone(official, tmp_path):
    data = official_json()
    data['annotations'][3]['segmentation']['counts'][-1] += 5  # sums to more than H x W
    root = write_coco(tmp_path / 'coco', data)
    with pytest.raises(ValueError, match=r'annotations\[3\] \(id 900100139\): uncompressed RLE '
                                         rf'"counts" sum to {H * W + 5}, more than height x '
                                         rf'width = {H * W} pixels'):
        convert_coco_to_semseg(root, tmp_path / 'out', splits=['val2017'], log=lambda m: None)
    summary = convert_coco_to_semseg(root, tmp_path / 'out', splits=['val2017'],
                                     on_error='skip', log=lambda m: None)
    assert summary['val2017'] == dict(images=2, annotations=12, skipped=1)


@pytest.mark.parametrize('change, message', [
    (lambda cats: cats.append(dict(cats[0], name='bicycle')),
     r'categories\[80\] \(\'bicycle\'\) repeats category id 1'),
    (lambda cats: cats.append(dict(cats[1], id=300)),
     r"categories\[80\] repeats the name 'bicycle' of categories\[1\]"),
])
def test_duplicated_category_is_refused(tmp_path, change, message):
    """Issue 13 item 9: the converter turned a duplicated category into background."""
    data = official_json()
    change(data['categories'])
    root = write_coco(tmp_path / 'coco', data)
    with pytest.raises(ValueError, match=message):
        convert_coco_to_semseg(root, tmp_path / 'out', splits=['val2017'], log=lambda m: None)
    assert not (tmp_path / 'out').exists()


def test_json_is_not_modified(official, tmp_path):
    before = (official / 'annotations' / 'instances_val2017.json').read_bytes()
    convert_coco_to_semseg(official, tmp_path / 'o', classes='voc20', splits=['val2017'],
                           log=lambda m: None)
    assert (official / 'annotations' / 'instances_val2017.json').read_bytes() == before
    assert copy.deepcopy(official_json()) == json.loads(before)
