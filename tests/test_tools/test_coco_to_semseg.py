"""tools/coco_to_semseg.py: command line, default output, --on-error, refusal to overwrite."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TOOL = Path(__file__).resolve().parents[2] / 'tools' / 'coco_to_semseg.py'


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('coco_to_semseg_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def coco(tmp_path):
    root = tmp_path / 'coco'
    (root / 'annotations').mkdir(parents=True)
    (root / 'val2017').mkdir()
    Image.new('RGB', (6, 5)).save(root / 'val2017' / 'a.jpg')
    data = dict(
        images=[dict(id=7, file_name='a.jpg', height=5, width=6)],
        annotations=[
            # a 2 x 3 rectangle: columns 1-3, rows 1-2 -> 6 pixels of 'cat'
            dict(id=1, image_id=7, category_id=17, iscrowd=0,
                 segmentation=[[1, 1, 4, 1, 4, 3, 1, 3]]),
            dict(id=2, image_id=7, category_id=17, iscrowd=0, segmentation='oops')],
        categories=[dict(id=17, name='cat', supercategory='animal')])
    (root / 'annotations' / 'instances_val2017.json').write_text(json.dumps(data))
    return root


def test_default_output_and_skip(tool, coco, capsys):
    assert tool.main([str(coco), '--splits', 'val2017']) == 1
    assert 'annotations[1] (id 2) needs a "segmentation"' in capsys.readouterr().err
    assert not (coco / 'semseg_coco80').exists()
    assert tool.main([str(coco), '--splits', 'val2017', '--on-error', 'skip',
                      '--classes', 'voc20']) == 0
    printed = capsys.readouterr().out
    assert 'skipped 1 malformed entry' in printed and '1/1 images' in printed
    mask = np.array(Image.open(coco / 'semseg_voc20' / 'val2017' / 'a.png'))
    assert (mask == 8).sum() == 6 and set(np.unique(mask)) == {0, 8}  # cat is VOC class 8
    assert (coco / 'semseg_voc20' / 'classes.txt').read_text().splitlines()[8] == 'cat'


def test_existing_output_needs_force(tool, coco, tmp_path, capsys):
    out = tmp_path / 'masks'
    args = [str(coco), '--splits', 'val2017', '--on-error', 'skip', '--out', str(out)]
    assert tool.main(args) == 0
    assert tool.main(args) == 1
    assert '--force' in capsys.readouterr().err
    assert tool.main(args + ['--force']) == 0
    assert (out / 'val2017' / 'a.png').is_file()


def test_missing_root_is_an_error(tool, tmp_path, capsys):
    assert tool.main([str(tmp_path / 'nowhere')]) == 1
    assert 'does not exist' in capsys.readouterr().err
