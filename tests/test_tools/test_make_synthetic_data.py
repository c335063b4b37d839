"""tools/make_synthetic_data.py: command line, exit codes, refusal to overwrite."""
import importlib.util
import json
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / 'tools' / 'make_synthetic_data.py'
ARGS = ['--num-train', '2', '--num-val', '1', '--image-size', '32', '--cifar-train', '4',
        '--cifar-test', '2']


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('make_synthetic_data_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_writes_the_three_datasets_and_a_summary(tool, tmp_path, capsys):
    out = tmp_path / 'synth'
    assert tool.main([str(out), '--seed', '7'] + ARGS) == 0
    printed = capsys.readouterr().out
    assert 'done' in printed and 'VOCdevkit/VOC2007: 2 trainval + 1 test images' in printed
    assert (out / 'VOCdevkit' / 'VOC2007' / 'ImageSets' / 'Main' / 'trainval.txt').is_file()
    assert (out / 'coco' / 'annotations' / 'instances_val2017.json').is_file()
    assert (out / 'cifar100' / 'cifar-100-python' / 'meta').is_file()
    info = json.loads((out / 'synthetic_info.json').read_text())
    assert info['seed'] == 7 and (info['cifar100']['train'], info['cifar100']['test']) == (4, 2)


def test_refuses_to_overwrite_without_force(tool, tmp_path, capsys):
    out = tmp_path / 'synth'
    assert tool.main([str(out)] + ARGS) == 0
    before = (out / 'coco' / 'annotations' / 'instances_train2017.json').read_bytes()
    capsys.readouterr()
    assert tool.main([str(out), '--seed', '1'] + ARGS) == 1
    err = capsys.readouterr().err
    assert 'not empty' in err and '--force' in err and 'nothing was written' in err
    assert (out / 'coco' / 'annotations' / 'instances_train2017.json').read_bytes() == before
    assert tool.main([str(out), '--seed', '1', '--force'] + ARGS) == 0
    assert (out / 'coco' / 'annotations' / 'instances_train2017.json').read_bytes() != before


def test_bad_size_is_an_error(tool, tmp_path, capsys):
    assert tool.main([str(tmp_path / 'x'), '--num-train', '1']) == 1
    assert 'num_train must be an integer >= 2' in capsys.readouterr().err
    assert not (tmp_path / 'x').exists()
