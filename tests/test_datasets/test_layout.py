"""Early VOC / COCO layout checks: good data passes, broken files are named."""
import json
import shutil

import pytest

from kd_transfer.datasets import check_coco, check_voc, check_voc_annotation


def test_synthetic_data_passes(synthetic_data):
    assert len(check_voc(synthetic_data)) == 8
    assert check_voc(synthetic_data / 'VOCdevkit', image_set='ImageSets/Main/test.txt') == [
        '000009', '000010', '000011', '000012']
    assert len(check_voc(synthetic_data, image_set='ImageSets/Segmentation/val.txt',
                         segmentation=True)) == 4
    assert check_coco(synthetic_data / 'coco', 'train2017') == 8
    assert check_coco(synthetic_data / 'coco', 'val2017') == 4


@pytest.fixture
def voc_copy(synthetic_data, tmp_path):
    shutil.copytree(synthetic_data / 'VOCdevkit', tmp_path / 'VOCdevkit')
    return tmp_path


def test_malformed_xml_is_named(voc_copy):
    xml = voc_copy / 'VOCdevkit' / 'VOC2007' / 'Annotations' / '000003.xml'
    xml.write_text(xml.read_text()[:-40])  # cut the closing tags
    with pytest.raises(ValueError, match='000003.xml is not well-formed XML'):
        check_voc(voc_copy)


def test_bad_fields_are_named(voc_copy):
    xml = voc_copy / 'VOCdevkit' / 'VOC2007' / 'Annotations' / '000002.xml'
    text = xml.read_text()
    start = text.index('<xmin>') + len('<xmin>')
    xml.write_text(text[:start] + 'abc' + text[text.index('</xmin>'):])
    with pytest.raises(ValueError, match=r"000002.xml: object 0 <bndbox><xmin> must be a "
                                         r"number, got 'abc'"):
        check_voc_annotation(xml)
    xml.write_text(text.replace('<width>64</width>', ''))
    with pytest.raises(ValueError, match='size/width'):
        check_voc_annotation(xml)


def test_missing_files_are_named(voc_copy, tmp_path):
    voc = voc_copy / 'VOCdevkit' / 'VOC2007'
    (voc / 'JPEGImages' / '000004.jpg').unlink()
    with pytest.raises(FileNotFoundError, match='000004.jpg'):
        check_voc(voc_copy)
    with pytest.raises(FileNotFoundError, match='ImageSets/Main/nope.txt'):
        check_voc(voc_copy, image_set='ImageSets/Main/nope.txt')
    with pytest.raises(FileNotFoundError, match='VOC2012 does not exist'):
        check_voc(voc_copy, year='VOC2012')


def test_malformed_coco_json_is_named(synthetic_data, tmp_path):
    coco = tmp_path / 'coco'
    shutil.copytree(synthetic_data / 'coco', coco)
    ann = coco / 'annotations' / 'instances_val2017.json'
    ann.write_text(ann.read_text()[:100])
    with pytest.raises(ValueError, match='instances_val2017.json is not valid JSON'):
        check_coco(coco, 'val2017')
    ann.write_text(json.dumps({'images': [], 'annotations': {}}))
    with pytest.raises(ValueError, match='"annotations" must be a list'):
        check_coco(coco, 'val2017')
    with pytest.raises(FileNotFoundError, match='instances_test2017.json not found'):
        check_coco(coco, 'test2017')
