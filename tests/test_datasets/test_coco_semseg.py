"""COCO instances -> semantic masks on a tiny hand-made json, and COCOSemSegDataset."""
import json

import numpy as np
import pytest
from PIL import Image

from kd_transfer.datasets.coco_semseg import convert_coco_to_semseg, semseg_classes

# Categories (real COCO ids) and their labels, counted by hand in the COCO id order
# person(1) bicycle(2) car(3) motorcycle airplane bus train truck(8) ... dog is the 17th thing
# category, couch the 58th. VOC order: aeroplane bicycle bird boat bottle bus car(7) ...
# dog(12) ... person(15) ... sofa(18).
CATEGORIES = [dict(id=1, name='person', supercategory='person'),
              dict(id=3, name='car', supercategory='vehicle'),
              dict(id=8, name='truck', supercategory='vehicle'),
              dict(id=18, name='dog', supercategory='animal'),
              dict(id=63, name='couch', supercategory='furniture')]
COCO80 = dict(person=1, car=3, truck=8, dog=17, couch=58)
VOC20 = dict(person=15, car=7, truck=0, dog=12, couch=18)


def square(x0, y0, x1, y1):
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def tiny_coco(root, annotations=None, images=None):
    """Two images: 1 is 10 high x 12 wide, 2 is 8 x 8."""
    images = images or [dict(id=1, file_name='000000000001.jpg', height=10, width=12),
                        dict(id=2, file_name='000000000002.jpg', height=8, width=8)]
    if annotations is None:
        annotations = [
            # pixel centres (c + 0.5, r + 0.5) inside [2, 6] x [2, 6]: columns 2-5, rows 2-5
            dict(id=1, image_id=1, category_id=1, segmentation=square(2, 2, 6, 6), iscrowd=0),
            # columns 7-10, rows 1-3
            dict(id=2, image_id=1, category_id=8, segmentation=square(7, 1, 11, 4), iscrowd=0),
            # crowd RLE (column-major counts): the whole first column (10 pixels)
            dict(id=3, image_id=1, category_id=18, iscrowd=1,
                 segmentation=dict(size=[10, 12], counts=[0, 10, 110])),
            # columns 2-4, rows 7-8
            dict(id=4, image_id=1, category_id=63, segmentation=square(2, 7, 5, 9), iscrowd=0),
            # image 2: a small car listed before the big person that covers it
            dict(id=5, image_id=2, category_id=3, segmentation=square(2, 2, 4, 4), iscrowd=0),
            dict(id=6, image_id=2, category_id=1, segmentation=square(0, 0, 8, 8), iscrowd=0),
        ]
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    (root / 'train2017').mkdir(exist_ok=True)
    for img in images:
        if img['height'] > 0 and img['width'] > 0:
            Image.new('RGB', (img['width'], img['height']), (90, 90, 90)).save(
                root / 'train2017' / img['file_name'])
    (root / 'annotations' / 'instances_train2017.json').write_text(json.dumps(
        dict(images=images, annotations=annotations, categories=CATEGORIES)))
    return root


def expected_image1(labels):
    m = np.zeros((10, 12), np.uint8)
    m[2:6, 2:6] = labels['person']
    m[1:4, 7:11] = labels['truck']
    m[:, 0] = 255 if labels['dog'] else 0
    m[7:9, 2:5] = labels['couch']
    return m


def expected_image2(labels):
    m = np.full((8, 8), labels['person'], np.uint8)
    m[2:4, 2:4] = labels['car']
    return m


@pytest.mark.parametrize('variant,labels', [('coco80', COCO80), ('voc20', VOC20)])
def test_masks_match_hand_drawn_labels(tmp_path, variant, labels):
    coco = tiny_coco(tmp_path / 'coco')
    out = tmp_path / 'out'
    summary = convert_coco_to_semseg(coco, out, classes=variant, splits=['train2017'],
                                     log=lambda m: None)
    assert summary == {'train2017': dict(images=2, annotations=6, skipped=0)}
    m1 = np.array(Image.open(out / 'train2017' / '000000000001.png'))
    m2 = np.array(Image.open(out / 'train2017' / '000000000002.png'))
    assert m1.dtype == np.uint8 and m1.shape == (10, 12)
    assert (m1 == labels['person']).sum() == 16  # the 4 x 4 square
    np.testing.assert_array_equal(m1, expected_image1(labels))
    np.testing.assert_array_equal(m2, expected_image2(labels))
    names = (out / 'classes.txt').read_text().splitlines()
    assert len(names) == {'coco80': 81, 'voc20': 21}[variant] and names[0] == 'background'
    assert names[labels['person']] == 'person'


def test_refuses_existing_output_without_force(tmp_path):
    coco = tiny_coco(tmp_path / 'coco')
    out = tmp_path / 'out'
    convert_coco_to_semseg(coco, out, splits=['train2017'], log=lambda m: None)
    with pytest.raises(FileExistsError, match='--force'):
        convert_coco_to_semseg(coco, out, splits=['train2017'], log=lambda m: None)
    convert_coco_to_semseg(coco, out, classes='voc20', splits=['train2017'], force=True,
                           log=lambda m: None)
    assert len((out / 'classes.txt').read_text().splitlines()) == 21


def test_malformed_entries_fail_or_are_skipped(tmp_path):
    annotations = [
        dict(id=1, image_id=1, category_id=1, segmentation=square(2, 2, 6, 6), iscrowd=0),
        dict(id=2, image_id=1, category_id=1, segmentation=[[1, 2, 3, 4, 5]], iscrowd=0),
        dict(id=3, image_id=99, category_id=1, segmentation=square(0, 0, 1, 1), iscrowd=0),
        dict(id=4, image_id=2, category_id=555, segmentation=square(0, 0, 1, 1), iscrowd=0),
    ]
    coco = tiny_coco(tmp_path / 'coco', annotations)
    with pytest.raises(ValueError, match=r'instances_train2017.json: annotations\[1\] \(id 2\): '
                                         r'each polygon must be a list of an even number'):
        convert_coco_to_semseg(coco, tmp_path / 'out', splits=['train2017'], log=lambda m: None)
    assert not (tmp_path / 'out').exists()
    lines = []
    summary = convert_coco_to_semseg(coco, tmp_path / 'out', splits=['train2017'],
                                     on_error='skip', log=lines.append)
    assert summary['train2017'] == dict(images=2, annotations=1, skipped=3)
    warning = [line for line in lines if line.startswith('WARNING')]
    assert len(warning) == 1 and 'skipped 3 malformed entries' in warning[0]
    m1 = np.array(Image.open(tmp_path / 'out' / 'train2017' / '000000000001.png'))
    assert (m1 == 1).sum() == 16 and set(np.unique(m1)) == {0, 1}


def test_bad_image_entries_and_bad_json(tmp_path):
    images = [dict(id=1, file_name='000000000001.jpg', height=10, width=12),
              dict(id=2, file_name='missing.jpg', height=8, width=8),
              dict(id=3, file_name='x.jpg', height=0, width=8)]
    coco = tiny_coco(tmp_path / 'coco', annotations=[], images=images)
    (coco / 'train2017' / 'missing.jpg').unlink()
    with pytest.raises(ValueError, match=r'images\[1\] file .*missing.jpg does not exist'):
        convert_coco_to_semseg(coco, tmp_path / 'out', splits=['train2017'], log=lambda m: None)
    summary = convert_coco_to_semseg(coco, tmp_path / 'out', splits=['train2017'],
                                     on_error='skip', log=lambda m: None)
    assert summary['train2017'] == dict(images=1, annotations=0, skipped=2)
    ann = coco / 'annotations' / 'instances_train2017.json'
    ann.write_text('{"images": [')
    with pytest.raises(ValueError, match='instances_train2017.json is not valid JSON'):
        convert_coco_to_semseg(coco, tmp_path / 'out2', splits=['train2017'],
                               log=lambda m: None)
    with pytest.raises(FileNotFoundError, match='instances_val2017.json not found'):
        convert_coco_to_semseg(coco, tmp_path / 'out3', splits=['val2017'], log=lambda m: None)
    assert not (tmp_path / 'out2').exists() and not (tmp_path / 'out3').exists()


def test_unknown_category_name_is_an_error(tmp_path):
    coco = tiny_coco(tmp_path / 'coco', annotations=[])
    ann = coco / 'annotations' / 'instances_train2017.json'
    data = json.loads(ann.read_text())
    data['categories'].append(dict(id=200, name='unicorn'))
    ann.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="'unicorn' is not one of the 80 COCO"):
        convert_coco_to_semseg(coco, tmp_path / 'out', splits=['train2017'], log=lambda m: None)


def test_synthetic_coco_converts_to_voc_labels(synthetic_data, tmp_path):
    out = tmp_path / 'semseg'
    convert_coco_to_semseg(synthetic_data / 'coco', out, classes='voc20', log=lambda m: None)
    voc = semseg_classes('voc20')
    drawn = {0} | {voc.index(n) for n in ('person', 'car', 'bird', 'aeroplane', 'dog')}
    for split, n in (('train2017', 8), ('val2017', 4)):
        pngs = sorted((out / split).glob('*.png'))
        assert len(pngs) == n
        data = json.loads((synthetic_data / 'coco' / 'annotations' /
                           f'instances_{split}.json').read_text())
        area = sum(a['area'] for a in data['annotations'])
        labels = np.stack([np.array(Image.open(p)) for p in pngs])
        assert set(np.unique(labels)) <= drawn
        # same polygons, rasterised by pycocotools here and by pixel centres in the json
        assert abs(int((labels > 0).sum()) - area) <= 0.05 * area


def test_coco_semseg_dataset_reads_the_masks(tmp_path):
    from mmcv.transforms import LoadImageFromFile
    from mmseg.datasets.transforms import LoadAnnotations
    from mmseg.registry import DATASETS

    coco = tiny_coco(tmp_path / 'coco')
    convert_coco_to_semseg(coco, coco / 'semseg_voc20', classes='voc20', splits=['train2017'],
                           log=lambda m: None)
    from mmengine.registry import DefaultScope

    import kd_transfer.datasets  # noqa: F401  (registers COCOSemSegDataset, run alone too)
    with DefaultScope.overwrite_default_scope('mmseg'):  # whatever scope an earlier test left
        ds = DATASETS.build(dict(
            type='COCOSemSegDataset', classes_variant='voc20', data_root=str(coco),
            data_prefix=dict(img_path='train2017', seg_map_path='semseg_voc20/train2017'),
            pipeline=[LoadImageFromFile(), LoadAnnotations()]))
    assert len(ds) == 2
    assert ds.metainfo['classes'] == semseg_classes('voc20') and len(ds.metainfo['palette']) == 21
    item = ds[0]
    assert item['img'].shape == (10, 12, 3)
    np.testing.assert_array_equal(item['gt_seg_map'], expected_image1(VOC20))
    with pytest.raises(ValueError, match='classes_variant'), \
            DefaultScope.overwrite_default_scope('mmseg'):
        DATASETS.build(dict(type='COCOSemSegDataset', classes_variant='coco80',
                            metainfo=dict(classes=('background', 'person')),
                            data_root=str(coco), data_prefix=dict(
                                img_path='train2017', seg_map_path='semseg_voc20/train2017')))
