"""Report cases of the fourth hardening pass (issue 13): output paths that are not files, an
unknown --baseline-method, the Setting column's source."""
import os
import os.path as osp

import pytest
from test_transfer_report import cls_run

from kd_transfer.report import ReportError, build_report


def test_report_json_that_is_a_directory_is_named_and_nothing_written(tmp_path):
    """14a: IsADirectoryError traceback, with report.csv already replaced."""
    cls_run(str(tmp_path / 'runs'), 'base_s0', 70.0, 0.05, student_depth=20, seed=0)
    out = tmp_path / 'out'
    build_report([str(tmp_path / 'runs')], str(out), date='old')
    csv_before = (out / 'report.csv').read_bytes()
    os.remove(out / 'report.json')
    os.mkdir(out / 'report.json')
    cls_run(str(tmp_path / 'runs'), 'base_s1', 60.0, 0.05, student_depth=20, seed=1)
    with pytest.raises(ReportError, match=r'report\.json exists and is not a file'):
        build_report([str(tmp_path / 'runs')], str(out), force=True, date='new')
    assert (out / 'report.csv').read_bytes() == csv_before  # all or nothing
    assert not [n for n in os.listdir(out) if n.startswith('.report')]


def test_unknown_baseline_method_lists_the_methods(tmp_path):
    """N28: every delta silently dropped."""
    cls_run(str(tmp_path), 'base_s0', 70.0, 0.05, student_depth=20, seed=0)
    with pytest.raises(ReportError, match=r"--baseline-method 'basline' is the method of no "
                                          r'run; methods present: baseline'):
        build_report([str(tmp_path)], str(tmp_path / 'out'), baseline_method='basline')
    assert not osp.exists(tmp_path / 'out' / 'report.md')


def test_setting_reads_model_backbone_not_the_top_level_helper():
    """N2: seeds of one student (files written by make_transfer_config, each holding its own
    checkpoint path in the top-level ``backbone`` helper) were split into variants labelled
    ``backbone.init_cfg.checkpoint=…``."""
    from kd_transfer.report.pooling import differing_keys, fingerprint

    def cfg(ckpt, depth=20):
        bb = dict(type='CifarResNet', depth=depth,
                  init_cfg=dict(type='Pretrained', checkpoint=ckpt))
        return dict(backbone=bb, model=dict(type='FasterRCNN', backbone=dict(bb)))

    assert differing_keys([fingerprint(cfg('s0.pth')), fingerprint(cfg('s1.pth'))]) == []
    assert differing_keys([fingerprint(cfg('s0.pth')),
                           fingerprint(cfg('s0.pth', depth=56))]) == ['model.backbone.depth']
