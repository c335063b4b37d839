"""Issue 13, item 3: ``--force`` deletes only what the tool itself wrote.

``tools/make_synthetic_data.py . --force`` used to replace the whole directory, deleting
the user's unrelated files. Directories written by kd_transfer's tools now carry a manifest
(``.kd_transfer_manifest.json``) and ``--force`` replaces a directory only when everything
in it is listed there.
"""
import json

import pytest

from kd_transfer.datasets.atomic import MANIFEST
from kd_transfer.testing import helpers as hh

pytestmark = pytest.mark.usefixtures('one_thread', 'no_leftover_processes')

ARGS = ['--num-train', '2', '--num-val', '1', '--image-size', '32', '--cifar-train', '2',
        '--cifar-test', '1']


def test_force_refuses_a_directory_with_other_files(tmp_path, capsys, monkeypatch):
    """The reproduction: ``make_synthetic_data.py . --force`` in a directory of one's own."""
    mine = tmp_path / 'project'
    (mine / 'notes').mkdir(parents=True)
    (mine / 'thesis.tex').write_text('precious')
    (mine / 'notes' / 'a.txt').write_text('precious too')
    monkeypatch.chdir(mine)
    rc = hh.load_tool('make_synthetic_data').main(['.', '--force'] + ARGS)
    err = capsys.readouterr().err
    assert rc == 1
    assert f'{mine} was not written by this tool (it has no {MANIFEST})' in err, err
    assert 'notes/a.txt' in err and 'thesis.tex' in err and 'nothing was written' in err
    assert (mine / 'thesis.tex').read_text() == 'precious'
    assert (mine / 'notes' / 'a.txt').read_text() == 'precious too'
    assert sorted(p.name for p in mine.iterdir()) == ['notes', 'thesis.tex']
    assert sorted(p.name for p in tmp_path.iterdir()) == ['project']  # no temporary dir left


def test_force_replaces_its_own_output_but_not_files_added_to_it(tmp_path, capsys):
    tool = hh.load_tool('make_synthetic_data')
    out = tmp_path / 'synth'
    assert tool.main([str(out), '--seed', '1'] + ARGS) == 0
    listed = json.loads((out / MANIFEST).read_text())['files']
    assert 'synthetic_info.json' in listed and \
        'cifar100/cifar-100-python/train' in listed and MANIFEST not in listed
    info = (out / 'synthetic_info.json').read_text()
    assert tool.main([str(out), '--seed', '2', '--force'] + ARGS) == 0  # its own: replaced
    assert (out / 'synthetic_info.json').read_text() != info
    (out / 'coco' / 'my_annotations.json').write_text('{}')  # the user adds a file
    capsys.readouterr()
    assert tool.main([str(out), '--seed', '3', '--force'] + ARGS) == 1
    err = capsys.readouterr().err
    assert 'holds files this tool did not write: coco/my_annotations.json' in err, err
    assert (out / 'coco' / 'my_annotations.json').read_text() == '{}'
    assert json.loads((out / 'synthetic_info.json').read_text())['seed'] == 2


def test_demo_force_refuses_a_directory_it_did_not_write(tmp_path, monkeypatch):
    """Same fault in ``tools/demo.py --out . --force`` (it removed the whole directory)."""
    import pytest

    from kd_transfer.demo import DEMO_MARKER, refuse_foreign_demo_dir, run_demo
    mine = tmp_path / 'project'
    (mine / 'data').mkdir(parents=True)
    (mine / 'data' / 'my_dataset.csv').write_text('precious')
    with pytest.raises(FileExistsError, match=rf'{mine} was not written by the demo \(it has no '
                                              rf'{DEMO_MARKER}\): data; --force only replaces'):
        run_demo(str(mine), profile='quick', force=True, log=lambda m: None)
    assert (mine / 'data' / 'my_dataset.csv').read_text() == 'precious'
    (mine / DEMO_MARKER).write_text('')
    (mine / 'thesis.tex').write_text('precious')
    with pytest.raises(FileExistsError, match=r'holds files the demo did not write: thesis\.tex'):
        run_demo(str(mine), profile='quick', force=True, log=lambda m: None)
    assert (mine / 'thesis.tex').read_text() == 'precious'
    (mine / 'thesis.tex').unlink()
    refuse_foreign_demo_dir(mine)  # a demo directory: --force may replace it
