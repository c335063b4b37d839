"""`make demo` end to end in its quick profile: the demo grid runs in-process, every report row
is filled, and the positive control has its own rows and section (the grid's resume and worker
pool: tests/test_tools/test_grid.py)."""
import json

import pytest

from kd_transfer.demo import DEMO_ENTRIES, PROFILES, run_demo


def test_quick_demo_fills_every_row(tmp_path):
    lines = []
    report = run_demo(str(tmp_path / 'demo'), profile='quick', log=lines.append)
    progress = [ln for ln in lines if ln.startswith('[')]
    assert progress[-1].startswith('[demo]') and 'report:' in progress[-1]
    assert any(ln.startswith('[1/') and 'setup/data' in ln for ln in progress)  # the grid ran
    data = json.loads((report / 'report.json').read_text())
    text = (report / 'report.md').read_text()
    assert 'None: every run finished and was identified.' in text
    assert 'Generated "shapes" data' in text  # the report says what the numbers are
    seeds = PROFILES['quick']['seeds']
    rows = {(r['backbone'], r['method']): r for r in data['rows']}
    assert set(rows) == {('resnet20', m) for m in ('baseline', 'scratch', 'kd')} | {
        ('resnet56', 'baseline')}  # the teacher
    for method in ('baseline', 'scratch', 'kd'):
        for key in ('voc07_ap50', 'voc_miou'):
            assert rows['resnet20', method]['metrics'][key]['seeds'] == seeds, (method, key)
    # the positive control: pretrained vs scratch, det and seg, over both seeds
    control = {c['metric']: c for c in data['positive_control']}
    assert set(control) == {'voc07_ap50', 'voc_miou'}
    assert all(len(c['pretrained']) == len(c['scratch']) == len(seeds) for c in control.values())
    # what the demo prints: the results and the positive-control sections
    printed = '\n'.join(lines)
    assert '## Results' in printed and '## Positive control' in printed
    assert any(ln.startswith('[demo] positive control') for ln in lines)
    assert {p.name for p in (tmp_path / 'demo').iterdir()} <= DEMO_ENTRIES


def test_demo_refuses_an_existing_output_without_force(tmp_path):
    out = tmp_path / 'demo'
    out.mkdir()
    (out / 'keep.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='--force'):
        run_demo(str(out), profile='quick', log=lambda msg: None)
    assert (out / 'keep.txt').read_text() == 'mine'
