"""A transfer run is credited to the backbone it was trained from (issue: report attribution).

``BackboneRecordHook`` writes ``<work_dir>/backbone_record.json`` when training starts; the
report reads it, not the file that is at the backbone path when the report runs.
"""
import hashlib
import json
import os.path as osp
from types import SimpleNamespace

from mmengine.config import Config

from kd_transfer.hooks.backbone_record import RECORD_FILE, BackboneRecordHook
from kd_transfer.report import load_run
from test_transfer_report import det_config, train_rec, write_backbone, write_run


def _det_records(ap):
    return [train_rec(1, 5), {'pascal_voc/AP50': ap, 'pascal_voc/mAP': ap, 'step': 1}]


def _train_start(work_dir, cfg_text, resume=False, timestamp='20250101_120000'):
    cfg = Config.fromstring(cfg_text, '.py')
    runner = SimpleNamespace(cfg=cfg, work_dir=work_dir, timestamp=timestamp, _resume=resume)
    BackboneRecordHook().before_train(runner)


def test_hook_records_hash_and_provenance(tmp_path):
    bb = write_backbone(str(tmp_path / 'r18.pth'), 'resnet18', 'kd', 'resnet34', 'w', seed=3)
    work = tmp_path / 'det'
    work.mkdir()
    _train_start(str(work), det_config(bb))
    record = json.loads((work / RECORD_FILE).read_text())
    assert record['sha256'] == hashlib.sha256(open(bb, 'rb').read()).hexdigest()
    assert record['provenance']['method'] == 'kd' and record['provenance']['seed'] == 3
    assert record['fresh_start'] is True and record['checkpoint'] == osp.abspath(bb)
    # a resumed run keeps the record of the run it continues
    write_backbone(bb, 'resnet18', 'baseline', None, 'w')
    _train_start(str(work), det_config(bb), resume=True, timestamp='20250102_120000')
    assert json.loads((work / RECORD_FILE).read_text())['provenance']['method'] == 'kd'


def test_report_uses_the_record_after_the_file_was_replaced(tmp_path):
    bb = write_backbone(str(tmp_path / 'r18.pth'), 'resnet18', 'kd', 'resnet34', 'w')
    run_dir = write_run(str(tmp_path), 'det_kd', det_config(bb), _det_records(0.55))
    _train_start(run_dir, det_config(bb))
    # later, another student is exported to the same path with --force
    write_backbone(bb, 'resnet18', 'baseline', None, 'w2')
    run = load_run(run_dir)
    assert (run.status, run.method, run.teacher) == ('ok', 'kd', 'resnet34')
    assert any('changed since this run was trained' in n for n in run.notes)


def test_force_reused_work_dir_does_not_show_the_previous_runs_metrics(tmp_path):
    bb = write_backbone(str(tmp_path / 'r18.pth'), 'resnet18', 'kd', 'resnet34', 'w')
    run_dir = write_run(str(tmp_path), 'det', det_config(bb), _det_records(0.55),
                        ts='20250101_120000')
    # a new run started with --force at a later launch died before its first validation
    _train_start(run_dir, det_config(bb), timestamp='20250105_090000')
    run = load_run(run_dir)
    assert run.status == 'missing' and not run.metrics
    assert any('belong to an earlier run' in n for n in run.notes)


def test_report_row_of_a_cifar_student_shows_its_normalisation(tmp_path):
    import torch

    from kd_transfer.report import build_report
    bb = str(tmp_path / 'r20.pth')
    norm = {'mean': [129.304, 124.07, 112.434], 'std': [68.17, 65.392, 70.418],
            'channel_order': 'RGB', 'from': 'model.student.data_preprocessor'}
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'meta': {'kd_transfer': {
        'arch': 'resnet20', 'method': 'kd', 'teacher': 'resnet56', 'seed': 0,
        'normalisation': norm, 'source_format': 'kd_transfer'}}}, bb)
    root = tmp_path / 'work'
    run_dir = write_run(str(root), 'det_kd', det_config(bb), _det_records(0.5))
    _train_start(run_dir, det_config(bb))
    out = tmp_path / 'report'
    build_report([str(root)], str(out))
    md = (out / 'report.md').read_text()
    runs = md[md.index('## Runs'):]
    assert '| Normalisation |' in runs.splitlines()[2]
    assert '129.304' in runs and '68.17' in runs and 'RGB' in runs
    data = json.loads((out / 'report.json').read_text())
    [run] = [r for r in data['rows'] if r['backbone'] == 'resnet20']
    assert run['method'] == 'kd'


def test_damaged_record_lists_the_run_as_unreadable_naming_the_file(tmp_path):
    from kd_transfer.report import collect_runs
    bb = write_backbone(str(tmp_path / 'r18.pth'), 'resnet18', 'kd', 'resnet34', 'w')
    root = tmp_path / 'work'
    ok_dir = write_run(str(root), 'det_ok', det_config(bb), _det_records(0.5))
    bad_dir = write_run(str(root), 'det_bad', det_config(bb), _det_records(0.5))
    _train_start(ok_dir, det_config(bb))
    (tmp_path / 'work' / 'det_bad' / RECORD_FILE).write_text('{"checkpoint": "/x", "sha')
    runs = {osp.basename(r.run_dir): r for r in collect_runs([str(root)])}
    assert runs['det_ok'].status == 'ok'
    assert runs['det_bad'].status == 'unreadable'
    assert RECORD_FILE in runs['det_bad'].reason and 'not valid JSON' in runs['det_bad'].reason
    (tmp_path / 'work' / 'det_bad' / RECORD_FILE).write_text('{"sha256": 5, "provenance": ["x"]}')
    bad = {osp.basename(r.run_dir): r for r in collect_runs([str(root)])}['det_bad']
    assert bad.status == 'unreadable' and 'expected an object' in bad.reason
    del bad_dir
