"""The report's intervals over seeds, pooling rules and tolerance of bad runs (issues 13, 14).

Work dirs are hand-written as mmengine leaves them (writers of test_transfer_report.py);
the expected statistics are computed by hand in the comments.
"""
import csv
import json
import os
import os.path as osp

import pytest
from test_transfer_report import (TS, cls_config, cls_run, det_config, seg_config, train_rec,
                                  write_backbone, write_run)

from kd_transfer import report as report_mod
from kd_transfer.report import build_report, collect_runs, summarize

KD = "[dict(type='KDLoss', T=4, loss_weight=0.9)]"


def voc_det_run(root, name, ckpt, ap, seed=0):
    return write_run(root, name, det_config(ckpt, 'voc', seed=seed), [
        train_rec(1, 5), {'pascal_voc/mAP': ap, 'step': 1}])


@pytest.fixture(scope='module')
def seeded(tmp_path_factory):
    """3 baseline seeds, 3 KD seeds, 1 DKD seed, each transferred to VOC detection."""
    root = str(tmp_path_factory.mktemp('seeded'))
    ckpt = osp.join(root, 'ckpt')
    os.makedirs(ckpt)
    base_top1, kd_top1 = (69.0, 69.5, 70.0), (71.0, 71.5, 72.0)
    base_ap, kd_ap = (0.50, 0.52, 0.54), (0.51, 0.55, 0.53)
    for seed in range(3):
        b = cls_run(osp.join(root, 'cls'), f'base_s{seed}', base_top1[seed], 0.08,
                    student_depth=20, seed=seed)
        k = cls_run(osp.join(root, 'cls'), f'kd_s{seed}', kd_top1[seed], 0.05, student_depth=20,
                    teacher_depth=56, losses=KD, seed=seed)
        bb = write_backbone(osp.join(ckpt, f'base_s{seed}.pth'), 'resnet20', 'baseline', None,
                            b, seed=seed)
        kb = write_backbone(osp.join(ckpt, f'kd_s{seed}.pth'), 'resnet20', 'kd', 'resnet56', k,
                            seed=seed)
        voc_det_run(osp.join(root, 'det'), f'voc_base_s{seed}', bb, base_ap[seed], seed)
        voc_det_run(osp.join(root, 'det'), f'voc_kd_s{seed}', kb, kd_ap[seed], seed)
    cls_run(osp.join(root, 'cls'), 'dkd_s0', 72.5, 0.04, student_depth=20, teacher_depth=56,
            losses="[dict(type='DKDLoss', alpha=1.0, beta=8.0, T=4, warmup=20)]")
    return root


@pytest.fixture(scope='module')
def seeded_report(seeded, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('seeded_report'))
    report = build_report([seeded], out, date='2025-01-01 12:00')
    with open(osp.join(out, 'report.json')) as f:
        data = json.load(f)
    with open(osp.join(out, 'report.md')) as f:
        md = f.read()
    with open(osp.join(out, 'report.csv')) as f:
        table = list(csv.DictReader(f))
    return dict(out=out, report=report, data=data, md=md, csv=table)


def row_of(data, method):
    (row, ) = [r for r in data['rows'] if r['method'] == method]
    return row['metrics']


# ------------------------------------------------------------------ item 1: intervals
def test_cell_interval_and_welch_delta_by_hand(seeded_report):
    m = row_of(seeded_report['data'], 'kd')['top1']
    # 71.0, 71.5, 72.0: mean 71.5, s = 0.5, t(0.975, 2) = 4.303, half 4.302653 * 0.5 / sqrt(3)
    # = 1.242069
    assert (m['n'], m['mean'], m['std']) == (3, pytest.approx(71.5), pytest.approx(0.5))
    assert m['ci_low'] == pytest.approx(70.257931, abs=1e-4)
    assert m['ci_high'] == pytest.approx(72.742069, abs=1e-4)
    # against 69.0, 69.5, 70.0 (s = 0.5): delta 2.0, se^2 = 0.25/3 + 0.25/3, se = 0.408248,
    # Welch df = 4 (equal n and s), t(0.975, 4) = 2.776, half 2.776445 * 0.408248 = 1.133473
    assert m['delta'] == pytest.approx(2.0)
    assert m['delta_ci_low'] == pytest.approx(0.866527, abs=1e-4)
    assert m['delta_ci_high'] == pytest.approx(3.133473, abs=1e-4)
    assert m['significant'] is True
    assert m['delta_df'] == pytest.approx(4.0)
    # VOC AP50 (percent) 51, 55, 53 vs 50, 52, 54: delta +1.0, s = 2 on both sides,
    # se = sqrt(4/3 + 4/3) = 1.632993, df 4, half 2.776445 * 1.632993 = 4.533917
    ap = row_of(seeded_report['data'], 'kd')['voc07_ap50']
    assert ap['delta'] == pytest.approx(1.0)
    assert ap['delta_ci_low'] == pytest.approx(1.0 - 4.533917, abs=1e-4)
    assert ap['delta_ci_high'] == pytest.approx(1.0 + 4.533917, abs=1e-4)
    assert ap['significant'] is False


def test_single_seed_cells_say_so(seeded_report):
    m = row_of(seeded_report['data'], 'dkd')['top1']
    assert (m['n'], m['std'], m['ci_low'], m['ci_high']) == (1, None, None, None)
    assert m['delta'] == pytest.approx(72.5 - 69.5)
    assert m['delta_ci_low'] is None and m['significant'] is None
    line = next(ln for ln in seeded_report['md'].splitlines() if '| dkd |' in ln)
    assert '72.50, n=1, no interval<br>Δ +3.00 (no interval: row n=1)' in line


def test_markdown_states_the_test_and_marks_significance(seeded_report):
    md = seeded_report['md']
    assert "Welch's t test" in md and 'Welch–Satterthwaite' in md and 'Student t' in md
    line = next(ln for ln in md.splitlines() if '| kd |' in ln)
    assert '71.50 ± 0.50, n=3, CI [70.26, 72.74]<br>Δ +2.00 [+0.87, +3.13] *' in line
    assert '53.00 ± 2.00, n=3, CI [48.03, 57.97]<br>Δ +1.00 [-3.53, +5.53] |' in line


def test_csv_carries_the_same_fields(seeded_report):
    kd = next(r for r in seeded_report['csv'] if r['method'] == 'kd')
    for field in ('', '_std', '_n', '_ci_low', '_ci_high', '_delta', '_delta_ci_low',
                  '_delta_ci_high', '_significant'):
        assert 'top1' + field in kd
    assert float(kd['top1_ci_low']) == pytest.approx(70.257931, abs=1e-4)
    assert float(kd['top1_delta_ci_high']) == pytest.approx(3.133473, abs=1e-4)
    assert kd['top1_significant'] == 'true' and kd['voc07_ap50_significant'] == 'false'
    dkd = next(r for r in seeded_report['csv'] if r['method'] == 'dkd')
    assert (dkd['top1_n'], dkd['top1_ci_low'], dkd['top1_significant']) == ('1', '', '')


def test_gain_plot_has_error_bars(seeded_report, monkeypatch, tmp_path):
    from matplotlib.axes import Axes
    calls = []
    real = Axes.errorbar

    def spy(self, x, y, *args, **kwargs):
        calls.append((x, y, kwargs.get('xerr'), kwargs.get('yerr')))
        return real(self, x, y, *args, **kwargs)

    monkeypatch.setattr(Axes, 'errorbar', spy)
    col = report_mod.COLUMN_BY_KEY['voc07_ap50']
    from kd_transfer.report.plots import plot_gain
    assert plot_gain(seeded_report['report'].rows, col, str(tmp_path / 'g.png'))
    (x, y, xerr, yerr), = [c for c in calls if c[0] == pytest.approx(2.0)]
    assert xerr[0][0] == pytest.approx(1.133473, abs=1e-4)  # the Welch half-widths above
    assert yerr[1][0] == pytest.approx(4.533917, abs=1e-4)


# ------------------------------------------------------------------ item 2: pooling
def test_different_schedules_are_not_pooled(tmp_path):
    # one config at 1, 2 and 5 epochs (seeds 0, 1, 2): three rows of n=1, not one of n=3
    for seed, epochs in enumerate((1, 2, 5)):
        write_run(str(tmp_path), f'base_{epochs}ep', cls_config(20, seed=seed,
                                                                max_epochs=epochs),
                  [train_rec(epochs, 10), {'cls/top1': 60.0 + epochs, 'cls/ece': 0.1,
                                           'step': epochs}])
    rows, _ = summarize(collect_runs([str(tmp_path)]))
    assert sorted(r.cells['top1'].n for r in rows) == [1, 1, 1]
    assert sorted(r.setting_text() for r in rows) == [
        'train_cfg.max_epochs=1, schedule reached=epoch 1/1',
        'train_cfg.max_epochs=2, schedule reached=epoch 2/2',
        'train_cfg.max_epochs=5, schedule reached=epoch 5/5']


def test_other_config_changes_split_rows_but_seeds_pool(tmp_path):
    for seed in (0, 1):
        cls_run(str(tmp_path), f'lr01_s{seed}', 70.0 + seed, 0.05, student_depth=20, seed=seed)
    other = cls_config(20, seed=0) + "optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.2))\n"
    write_run(str(tmp_path), 'lr02_s0', other, [train_rec(2, 10), {'cls/top1': 50.0, 'step': 2}])
    rows, _ = summarize(collect_runs([str(tmp_path)]))
    by_n = sorted((r.cells['top1'].n, r.cells['top1'].mean) for r in rows)
    assert by_n == [(1, 50.0), (2, 70.5)]
    assert any('optim_wrapper.optimizer.lr=0.2' in r.setting_text() for r in rows)


def test_duplicate_runs_counted_once_and_listed(tmp_path):
    import shutil
    cls_run(str(tmp_path), 'kd_s0', 70.0, 0.05, student_depth=20, seed=0)
    shutil.copytree(tmp_path / 'kd_s0', tmp_path / 'kd_s0_copy')
    cls_run(str(tmp_path), 'kd_s1', 71.0, 0.05, student_depth=20, seed=1)
    report = build_report([str(tmp_path)], str(tmp_path / 'out'))
    (row, ) = report.rows
    assert row.cells['top1'].n == 2  # not 3, and not "± 0.00, n=2" from the copy
    (dup, ) = report.problem_runs
    assert dup.status == 'duplicate' and osp.basename(dup.run_dir) == 'kd_s0_copy'
    assert str(tmp_path / 'kd_s0') in dup.reason
    md = (tmp_path / 'out' / 'report.md').read_text()
    assert 'kd_s0_copy' in md.split('## Missing / unfinished runs')[1].split('\n## ')[0]


def test_transfer_run_nested_in_classification_work_dir_is_found(tmp_path):
    cls = cls_run(str(tmp_path), 'base', 69.0, 0.08, student_depth=20)
    bb = write_backbone(str(tmp_path / 'bb.pth'), 'resnet20', 'baseline', None, cls)
    nested = voc_det_run(cls, 'det_voc', bb, 0.5)
    runs = collect_runs([str(tmp_path)])
    assert sorted(r.run_dir for r in runs) == sorted([cls, nested])
    (row, ) = summarize(runs)[0]
    assert row.cells['voc07_ap50'].mean == pytest.approx(50.0)


def test_dataset_from_config_not_path_text(tmp_path):
    bb = write_backbone(str(tmp_path / 'bb.pth'), 'resnet20', 'baseline', None, None)
    records = [train_rec(None, 20), {'mIoU': 30.0, 'step': 20}, train_rec(None, 40),
               {'mIoU': 31.0, 'step': 40}]
    # COCO-Stuff kept under a directory named after VOC
    write_run(str(tmp_path), 'coco_in_voc_dir', seg_config(bb, 'coco').replace(
        'data/coco_stuff164k', 'data/VOCdevkit_copies/coco_stuff'), records)
    # an unregistered dataset type: the COCO-style annotation file tells
    write_run(str(tmp_path), 'custom_json', seg_config(bb, 'coco').replace(
        "dict(type='COCOStuffDataset', data_root='data/coco_stuff164k')",
        "dict(type='MySegDataset', data_root='data/voc', ann_file='annotations/val.json')"),
        records)
    runs = {osp.basename(r.run_dir): r for r in collect_runs([str(tmp_path)])}
    assert runs['coco_in_voc_dir'].dataset == 'coco'
    assert runs['custom_json'].dataset == 'coco'
    assert runs['coco_in_voc_dir'].metrics == {'coco_miou': 31.0}


# ------------------------------------------------------------------ item 3: unidentified exports
def test_export_without_method_listed_as_unidentified(tmp_path):
    good = write_backbone(str(tmp_path / 'good.pth'), 'resnet20', 'baseline', None, None)
    anon = write_backbone(str(tmp_path / 'anon.pth'), 'resnet18', None, None, None)
    voc_det_run(str(tmp_path / 'det'), 'good', good, 0.5)
    voc_det_run(str(tmp_path / 'det'), 'anon', anon, 0.6)
    report = build_report([str(tmp_path / 'det')], str(tmp_path / 'out'))
    (row, ) = report.rows
    assert row.cells['voc07_ap50'].values == [pytest.approx(50.0)]
    (bad, ) = report.problem_runs
    assert bad.status == 'unidentified'
    assert 'anon.pth' in bad.reason and 'method' in bad.reason and '--method' in bad.reason


# ------------------------------------------------------------------ item 4: robust writing
def test_rendering_crash_leaves_previous_report_intact(seeded, tmp_path, monkeypatch):
    out = tmp_path / 'out'
    build_report([osp.join(seeded, 'cls')], str(out), date='old')
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def crash(report):
        raise RuntimeError('rendering bug')

    monkeypatch.setattr(report_mod.write, 'render_markdown', crash)
    with pytest.raises(RuntimeError, match='rendering bug'):
        build_report([seeded], str(out), force=True, date='new')  # would add gain plots
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_non_utf8_scalars_listed_with_the_file(tmp_path):
    cls_run(str(tmp_path), 'good', 70.0, 0.05, student_depth=20)
    bad = cls_run(str(tmp_path), 'latin1', 71.0, 0.05, student_depth=20, seed=1)
    scalars = osp.join(bad, TS, 'vis_data', 'scalars.json')
    with open(scalars, 'ab') as f:
        f.write(b'{"note": "caf\xe9"}\n')
    with open(scalars, 'ab') as f:
        f.write(b'{"lr": 0.1, "loss": 1.0, "step": 30}\n')
    report = build_report([str(tmp_path)], str(tmp_path / 'out'))
    (row, ) = report.rows
    assert row.cells['top1'].values == [70.0]
    (r, ) = report.problem_runs
    assert r.status == 'unreadable'
    assert scalars in r.reason and 'line 5' in r.reason and 'UTF-8' in r.reason


def test_bad_scalars_line_in_the_middle_lists_the_run(tmp_path):
    cls_run(str(tmp_path), 'good', 70.0, 0.05, student_depth=20)
    bad = write_run(str(tmp_path), 'garbled', cls_config(20, seed=1), raw_lines=[
        json.dumps(train_rec(1, 10)), '{"cls/top1": 5', json.dumps(train_rec(2, 20))])
    report = build_report([str(tmp_path)], str(tmp_path / 'out'))
    assert [r.cells['top1'].values for r in report.rows] == [[70.0]]
    (r, ) = report.problem_runs
    assert r.status == 'unreadable'
    assert osp.join(bad, TS, 'vis_data', 'scalars.json') + ', line 2' in r.reason


def test_garbage_bytes_on_the_last_line_are_skipped_with_a_warning(tmp_path):
    run = cls_run(str(tmp_path), 'killed', 70.0, 0.05, student_depth=20)
    scalars = osp.join(run, TS, 'vis_data', 'scalars.json')
    with open(scalars, 'ab') as f:
        f.write(b'{"lr": 0.1, "note": "\xc3')  # cut inside a two-byte character
    (r, ) = collect_runs([str(tmp_path)])
    assert (r.status, r.metrics['top1']) == ('ok', 70.0)
    assert r.warnings and r.warnings[0].startswith(f'{scalars}, line 5: not UTF-8')


def test_runs_without_a_schedule_pool_only_at_the_same_last_step(tmp_path):
    cfg = "model = dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=20))\n" \
          'randomness = dict(seed={})\n'
    for seed, step in ((0, 1), (1, 2), (2, 2)):
        write_run(str(tmp_path), f's{seed}', cfg.format(seed),
                  [train_rec(step, 10), {'cls/top1': 60.0 + seed, 'step': step}])
    rows, _ = summarize(collect_runs([str(tmp_path)]))
    assert sorted(r.cells['top1'].values for r in rows) == [[60.0], [61.0, 62.0]]


def test_one_line_adds_a_provenance_column(tmp_path, monkeypatch):
    bb = write_backbone(str(tmp_path / 'bb.pth'), 'resnet20', 'baseline', None, None)
    voc_det_run(str(tmp_path / 'det'), 'run', bb, 0.5)
    monkeypatch.setattr(report_mod.columns, 'PROVENANCE_COLUMNS', report_mod.PROVENANCE_COLUMNS
                        + (('source_sha256', 'Backbone sha256'), ))
    build_report([str(tmp_path / 'det')], str(tmp_path / 'out'))
    md = (tmp_path / 'out' / 'report.md').read_text()
    assert '| Backbone sha256 | Notes |' in md and '| resnet20-baseline-0 |' in md
    data = json.loads((tmp_path / 'out' / 'report.json').read_text())
    assert data['runs'][0]['provenance']['source_sha256'] == 'resnet20-baseline-0'


def test_temporary_dirs_of_killed_writers_are_cleaned_after_an_hour(seeded, tmp_path):
    out = tmp_path / 'out'
    stale, fresh = out / '.report-tmp-killed', out / '.report-tmp-running'
    for d in (stale, fresh):
        d.mkdir(parents=True)
        (d / 'report.md').write_text('half')
    os.utime(stale, (0, 0))
    build_report([osp.join(seeded, 'cls')], str(out))
    assert not stale.exists() and fresh.exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ['.report-tmp-running', 'report.csv', 'report.json', 'report.md'])


def test_transfer_schedules_kept_apart_and_compared_like_for_like(tmp_path):
    # both backbones transferred with a 1-epoch and a 2-epoch detector schedule, 2 seeds each
    ap = {('baseline', 1): (0.40, 0.42), ('baseline', 2): (0.50, 0.52),
          ('kd', 1): (0.41, 0.43), ('kd', 2): (0.60, 0.62)}
    for method in ('baseline', 'kd'):
        bb = write_backbone(str(tmp_path / f'{method}.pth'), 'resnet20', method,
                            None if method == 'baseline' else 'resnet56', None)
        for epochs in (1, 2):
            for seed in (0, 1):
                cfg = det_config(bb, 'voc', seed=seed).replace('max_epochs=1',
                                                                f'max_epochs={epochs}')
                write_run(str(tmp_path / 'det'), f'{method}_{epochs}ep_s{seed}', cfg, [
                    train_rec(epochs, 5), {'pascal_voc/mAP': ap[method, epochs][seed],
                                           'step': epochs}])
    rows, _ = summarize(collect_runs([str(tmp_path / 'det')]))
    cells = {(r.method, r.setting_text()): r.cells['voc07_ap50'] for r in rows}
    one = 'det: train_cfg.max_epochs=1, det: schedule reached=epoch 1/1'
    two = 'det: train_cfg.max_epochs=2, det: schedule reached=epoch 2/2'
    assert sorted(cells) == sorted([('baseline', one), ('baseline', two), ('kd', one),
                                    ('kd', two)])
    assert cells['kd', one].n == 2 and cells['kd', one].delta == pytest.approx(1.0)
    assert cells['kd', two].delta == pytest.approx(10.0)  # 61 - 51, not 61 - 46
