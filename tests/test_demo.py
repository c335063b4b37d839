"""`make demo` end to end in its quick profile: every stage runs and every report row is filled."""
import json

import pytest

from kd_transfer.demo import METHODS, run_demo


def test_quick_demo_fills_every_row(tmp_path):
    lines = []
    report = run_demo(str(tmp_path / 'demo'), profile='quick', log=lines.append)
    assert [ln for ln in lines if ln.startswith('[demo')][-1].startswith('[demo] report:')
    data = json.loads((report / 'report.json').read_text())
    text = (report / 'report.md').read_text()
    assert 'None: every run finished and was identified.' in text
    assert 'Generated "shapes" data' in text  # the report says what the numbers are
    rows = {(r['backbone'], r['method']) for r in data['rows']}
    assert {('resnet20', m) for m in ('baseline', *METHODS, 'reviewkd-det')} <= rows
    assert ('resnet56', 'baseline') in rows
    assert sorted(p.name for p in report.glob('*.png')) == ['gain_voc07_ap50.png',
                                                            'gain_voc_miou.png']


def test_demo_refuses_an_existing_output_without_force(tmp_path):
    out = tmp_path / 'demo'
    out.mkdir()
    (out / 'keep.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='--force'):
        run_demo(str(out), profile='quick', log=lambda msg: None)
    assert (out / 'keep.txt').read_text() == 'mine'
