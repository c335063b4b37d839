"""The report prints the published top-1 beside each measured classification row."""
import json

from kd_transfer.report import build_report
from test_transfer_report import KD, cls_run  # the report tests' run writers


def test_published_top1_beside_measured_rows(tmp_path):
    root = tmp_path / 'work'
    root.mkdir()
    cls_run(str(root), 'baseline_resnet20', 69.0, 0.05, student_depth=20)
    cls_run(str(root), 'kd_resnet56_resnet20', 68.0, 0.04, student_depth=20, teacher_depth=56,
            losses=KD)
    out = tmp_path / 'report'
    build_report([str(root)], str(out))
    md = (out / 'report.md').read_text()
    # CRD paper, Table 1 (RepDistiller README): resnet20 alone 69.06, KD from resnet56 70.66
    assert '| Published top-1 |' in md
    assert '69.06 (-0.06)' in md            # 69.00 - 69.06, within 1 point: no flag
    assert '70.66 (-2.66 ⚠)' in md          # 68.00 - 70.66: flagged
    rows = {(r['backbone'], r['method']): r for r in
            json.loads((out / 'report.json').read_text())['rows']}
    kd = rows[('resnet20', 'kd')]['published']
    assert kd['top1'] == 70.66 and kd['flag'] is True and 'RepDistiller' in kd['source']
    assert abs(kd['gap'] - (68.0 - 70.66)) < 1e-9
    csv_text = (out / 'report.csv').read_text().splitlines()
    assert csv_text[0].endswith('published_top1,published_gap,published_flag,published_source')


def test_no_published_leaves_the_papers_out(tmp_path):
    """Generated data (the demo) is not CIFAR-100: `--no-published` drops the column, the json
    entry and the csv values, nothing else."""
    from kd_transfer.testing.helpers import load_tool
    root = tmp_path / 'work'
    root.mkdir()
    cls_run(str(root), 'baseline_resnet20', 69.0, 0.05, student_depth=20)
    out = tmp_path / 'report'
    assert load_tool('transfer_report').main([str(root), '--out', str(out),
                                              '--no-published']) == 0
    md = (out / 'report.md').read_text()
    assert 'Published top-1' not in md and '69.06' not in md
    assert '69.00' in md  # the measured cell stays
    row = json.loads((out / 'report.json').read_text())['rows'][0]
    assert row['published'] is None
    assert (out / 'report.csv').read_text().splitlines()[1].endswith(',,,')
