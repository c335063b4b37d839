"""The upstream readers (mmdet, mmseg, pycocotools) load the synthetic data unchanged."""
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image


def test_mmdet_voc_dataset(synthetic_data):
    from mmcv.transforms import LoadImageFromFile
    from mmdet.datasets import VOCDataset
    from mmdet.datasets.transforms import LoadAnnotations

    ds = VOCDataset(data_root=str(synthetic_data / 'VOCdevkit'),
                    ann_file='VOC2007/ImageSets/Main/trainval.txt',
                    data_prefix=dict(sub_data_root='VOC2007/'),
                    pipeline=[LoadImageFromFile(), LoadAnnotations(with_bbox=True)],
                    lazy_init=True)
    ds.full_init()
    assert len(ds) == 8 and ds.metainfo['dataset_type'] == 'VOC2007'
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        assert (info['width'], info['height']) == (64, 64)
        objects = ET.parse(info['xml_path']).getroot().findall('object')
        assert len(info['instances']) == len(objects) > 0
        for inst, obj in zip(info['instances'], objects):
            assert ds.metainfo['classes'][inst['bbox_label']] == obj.findtext('name')
            # mmdet subtracts 1 from the 1-based VOC coordinates
            assert inst['bbox'] == [int(obj.findtext(f'bndbox/{k}')) - 1
                                    for k in ('xmin', 'ymin', 'xmax', 'ymax')]
            assert inst['ignore_flag'] == 0
    item = ds[0]
    assert item['img'].shape == (64, 64, 3)
    assert len(item['gt_bboxes']) == len(ds.get_data_info(0)['instances'])


def test_mmdet_coco_dataset(synthetic_data):
    from mmcv.transforms import LoadImageFromFile
    from mmdet.datasets import CocoDataset
    from mmdet.datasets.transforms import LoadAnnotations

    coco = synthetic_data / 'coco'
    ds = CocoDataset(data_root=str(coco), ann_file='annotations/instances_train2017.json',
                     data_prefix=dict(img='train2017/'),
                     pipeline=[LoadImageFromFile(),
                               LoadAnnotations(with_bbox=True, with_mask=True)],
                     lazy_init=True)
    ds.full_init()
    data = json.loads((coco / 'annotations' / 'instances_train2017.json').read_text())
    names = {c['id']: c['name'] for c in data['categories']}
    assert len(ds) == 8 and len(ds.metainfo['classes']) == 80
    assert list(ds.metainfo['classes']) == [c['name'] for c in data['categories']]
    anns = {}
    for ann in data['annotations']:
        anns.setdefault(ann['image_id'], []).append(ann)
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        expected = anns[info['img_id']]
        assert len(info['instances']) == len(expected)
        for inst, ann in zip(info['instances'], expected):
            x, y, w, h = ann['bbox']
            assert inst['bbox'] == pytest.approx([x, y, x + w, y + h])
            assert ds.metainfo['classes'][inst['bbox_label']] == names[ann['category_id']]
    item = ds[0]
    assert item['img'].shape == (64, 64, 3)
    masks = item['gt_masks'].masks
    areas = [a['area'] for a in anns[ds.get_data_info(0)['img_id']]]
    # pycocotools' rasterisation of the polygons vs the pixel-centre areas in the json (<= 5 %)
    for mask, area in zip(masks, areas):
        assert abs(int(mask.sum()) - area) <= 0.05 * area


def test_pycocotools_loads_the_json(synthetic_data):
    from pycocotools.coco import COCO

    api = COCO(str(synthetic_data / 'coco' / 'annotations' / 'instances_val2017.json'))
    assert len(api.getImgIds()) == 4 and len(api.getCatIds()) == 80
    assert api.loadCats(5)[0]['name'] == 'airplane'
    for ann in api.loadAnns(api.getAnnIds()):
        assert abs(int(api.annToMask(ann).sum()) - ann['area']) <= 0.05 * ann['area']


def test_mmseg_pascal_voc_dataset(synthetic_data):
    from mmcv.transforms import LoadImageFromFile
    from mmseg.datasets import PascalVOCDataset
    from mmseg.datasets.transforms import LoadAnnotations

    voc = synthetic_data / 'VOCdevkit' / 'VOC2007'
    ds = PascalVOCDataset(data_root=str(voc),
                          data_prefix=dict(img_path='JPEGImages',
                                           seg_map_path='SegmentationClass'),
                          ann_file='ImageSets/Segmentation/val.txt',
                          pipeline=[LoadImageFromFile(), LoadAnnotations()], lazy_init=True)
    ds.full_init()
    assert len(ds) == 4 and len(ds.metainfo['classes']) == 21
    for i in range(len(ds)):
        item = ds[i]
        png = voc / 'SegmentationClass' / (item['img_path'].rsplit('/', 1)[1][:-4] + '.png')
        np.testing.assert_array_equal(item['gt_seg_map'], np.array(Image.open(png)))
        assert item['img'].shape == (64, 64, 3)
        labels = set(np.unique(item['gt_seg_map']).tolist())
        assert 0 in labels and 255 in labels and labels - {0, 255}
