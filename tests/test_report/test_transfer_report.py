"""Tests of kd_transfer.report / tools/transfer_report.py on hand-written mmengine work dirs.

The fixture writes what mmengine's Runner leaves on disk (dumped config, <timestamp>/ with
<timestamp>.log and vis_data/scalars.json) and tiny exported backbones; no training runs.
Expected numbers are computed by hand below.
"""
import csv
import importlib.util
import json
import math
import os
import os.path as osp

import pytest
import torch

from kd_transfer.report import ReportError, build_report, collect_runs, summarize

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TS = '20250101_120000'

# ---------------------------------------------------------------------------- writers


def cls_config(student_depth, teacher_depth=None, losses=None, seed=0, max_epochs=2,
               ce_weight=None):
    """Dumped config of a classification run (Distiller when a teacher is given)."""
    student = f"dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth={student_depth}))"
    if teacher_depth is None:
        model = f"model = dict(type='KDClassifier', backbone=dict(type='CifarResNet', " \
                f"depth={student_depth}, num_classes=100))"
    else:
        teacher = f"dict(type='KDClassifier', backbone=dict(type='CifarResNet', " \
                  f"depth={teacher_depth}), init_cfg=dict(type='Pretrained', checkpoint='t.pth'))"
        extra = '' if ce_weight is None else f', ce_weight={ce_weight}'
        model = f'model = dict(type=\'Distiller\', student={student}, teacher={teacher}, ' \
                f'distill_losses={losses}{extra})'
    return '\n'.join([
        model,
        f'randomness = dict(seed={seed})',
        f"train_cfg = dict(type='EpochBasedTrainLoop', max_epochs={max_epochs}, val_interval=1)",
        "val_evaluator = dict(type='ClsCalibMetric')",
        "train_dataloader = dict(dataset=dict(type='CIFAR100Pickle', data_root='data/cifar100'))",
        ''])


def det_config(checkpoint, dataset='voc', seed=0, hook_teacher=None):
    metric = "dict(type='VOCMetric', metric='mAP', eval_mode='11points')" if dataset == 'voc' \
        else "dict(type='CocoMetric', metric='bbox')"
    ds = "dict(type='VOCDataset', data_root='data/VOCdevkit/')" if dataset == 'voc' else \
        "dict(type='CocoDataset', data_root='data/coco/')"
    lines = [
        "default_scope = 'mmdet'",
        "model = dict(type='FasterRCNN', backbone=dict(type='TVResNet', depth=18, "
        f"out_indices=(0, 1, 2, 3), init_cfg=dict(type='Pretrained', checkpoint={checkpoint!r})),"
        " rpn_head=dict(type='RPNHead'), roi_head=dict(type='StandardRoIHead'))",
        f'randomness = dict(seed={seed})',
        "train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)",
        f'val_evaluator = {metric}',
        f'val_dataloader = dict(batch_size=1, dataset={ds})',
    ]
    if hook_teacher:
        lines.append(f"custom_hooks = [dict(type='ReviewKDHook', teacher_config={hook_teacher!r}, "
                     "teacher_checkpoint='teacher.pth', loss_weight=1.2)]")
    return '\n'.join(lines) + '\n'


def seg_config(checkpoint, dataset='voc', seed=0, max_iters=40):
    ds = "dict(type='PascalVOCDataset', data_root='data/VOCdevkit/VOC2012')" if dataset == 'voc' \
        else "dict(type='COCOStuffDataset', data_root='data/coco_stuff164k')"
    return '\n'.join([
        "default_scope = 'mmseg'",
        "model = dict(type='EncoderDecoder', backbone=dict(type='TVResNet', depth=18, "
        f"init_cfg=dict(type='Pretrained', checkpoint={checkpoint!r})), "
        "decode_head=dict(type='ASPPHead'))",
        f'randomness = dict(seed={seed})',
        f"train_cfg = dict(type='IterBasedTrainLoop', max_iters={max_iters}, val_interval=20)",
        "default_hooks = dict(logger=dict(type='LoggerHook', interval=10, "
        "log_metric_by_epoch=False))",
        f'val_dataloader = dict(dataset={ds})',
        ''])


def train_rec(epoch=None, it=10):
    rec = {'lr': 0.05, 'data_time': 0.01, 'loss': 2.0, 'loss_ce': 2.0, 'time': 0.1,
           'iter': it, 'memory': 0, 'step': it}
    if epoch is not None:
        rec['epoch'] = epoch
    return rec


def cls_val(top1, ece, step):
    return {'cls/top1': top1, 'cls/top5': min(top1 + 20, 100.0), 'cls/ece': ece,
            'cls/nll': 1.2, 'data_time': 0.01, 'time': 0.02, 'step': step}


def write_run(root, name, config, records=None, ts=TS, log_text='', raw_lines=None):
    """A run dir: <name>/<name>.py and, when records are given, <ts>/vis_data/scalars.json."""
    run_dir = osp.join(root, name)
    os.makedirs(run_dir)
    with open(osp.join(run_dir, f'{name}.py'), 'w') as f:
        f.write(config)
    if records is not None or raw_lines is not None:
        vis = osp.join(run_dir, ts, 'vis_data')
        os.makedirs(vis)
        lines = raw_lines if raw_lines is not None else [json.dumps(r) for r in records]
        with open(osp.join(vis, 'scalars.json'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        with open(osp.join(run_dir, ts, f'{ts}.log'), 'w') as f:
            f.write(log_text)
    return run_dir


def write_backbone(path, arch, method, teacher, work_dir, seed=0, top1=None, ece=None,
                   source_format='kd_transfer'):
    torch.save({'state_dict': {'w': torch.zeros(1)},
                'meta': {'kd_transfer': {
                    'arch': arch, 'backbone': {'type': 'TVResNet', 'depth': 18}, 'method': method,
                    'teacher': teacher, 'source': f'{work_dir}/epoch_2.pth',
                    'source_format': source_format, 'source_sha256': f'{arch}-{method}-{seed}',
                    'top1': top1, 'ece': ece, 'seed': seed, 'work_dir': work_dir}}}, path)
    return path


def cls_run(root, name, top1, ece, **cfg):
    """A finished 2-epoch classification run whose final validation gives top1 / ece."""
    return write_run(root, name, cls_config(**cfg), [
        train_rec(1, 10), cls_val(top1 - 10, ece + 0.1, 1), train_rec(2, 20),
        cls_val(top1, ece, 2)])


# ------------------------------------------------------------------------ the fixture
KD = "[dict(type='KDLoss', T=4, loss_weight=0.9)]"
DKD = "[dict(type='DKDLoss', alpha=1.0, beta=8.0, T=4, warmup=20)]"
SWEEP_ALPHA = (0.0, 0.05, 0.1)
SWEEP_GAMMA = (0.0, 0.005, 0.01)


def sweep_top1(a, g):
    return 70.0 + 10 * a + 100 * g


def sweep_ece(a, g):
    return 0.06 - 0.2 * a - 2 * g


@pytest.fixture(scope='module')
def fixture_dirs(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('work_dirs'))
    cls_root = osp.join(root, 'cls')
    base = cls_run(cls_root, 'baseline_r20', 69.0, 0.08, student_depth=20)
    kd0 = cls_run(cls_root, 'kd_r56_r20_s0', 70.5, 0.05, student_depth=20, teacher_depth=56,
                  losses=KD, seed=0, ce_weight=0.1)
    cls_run(cls_root, 'kd_r56_r20_s1', 71.1, 0.04, student_depth=20, teacher_depth=56,
            losses=KD, seed=1, ce_weight=0.1)
    dkd = cls_run(cls_root, 'dkd_r56_r20', 71.9, 0.06, student_depth=20, teacher_depth=56,
                  losses=DKD)
    # a missing run (config, launch dir with training records only) and an unfinished one
    write_run(cls_root, 'at_r56_r20_crashed', cls_config(20, 56, "[dict(type='ATLoss')]"),
              [train_rec(1, 10)])
    write_run(cls_root, 'fitnets_r56_r20_running',
              cls_config(20, 56, "[dict(type='FitNetsLoss', hint_layer=2)]"),
              [train_rec(1, 10), cls_val(65.0, 0.07, 1), train_rec(2, 15)])
    sweep = {}
    for a in SWEEP_ALPHA:
        for g in SWEEP_GAMMA:
            # as configs/distill/cifar100/focal_kd_*: beta = 1 - alpha follows alpha
            losses = f"[dict(type='FocalCalibKDLoss', alpha={a}, beta={round(1 - a, 4)}, " \
                     f"gamma={g}, temperature=4, focal_gamma=3.0)]"
            sweep[a, g] = cls_run(osp.join(root, 'sweep'), f'focal_a{a}_g{g}',
                                  sweep_top1(a, g), sweep_ece(a, g), student_depth=20,
                                  teacher_depth=110, losses=losses, ce_weight=0.0)

    ckpt = osp.join(root, 'ckpt')
    os.makedirs(ckpt)
    base_bb = write_backbone(osp.join(ckpt, 'base.pth'), 'resnet20', 'baseline', None, base)
    kd_bb = write_backbone(osp.join(ckpt, 'kd.pth'), 'resnet20', 'kd', 'resnet56', kd0)
    # same student, but the provenance work dir is not among the reported runs
    kd_moved = write_backbone(osp.join(ckpt, 'kd_moved.pth'), 'resnet20', 'kd', 'resnet56',
                              '/elsewhere/kd_r56_r20_s0')
    dkd_bb = write_backbone(osp.join(ckpt, 'dkd.pth'), 'resnet20', 'dkd', 'resnet56', dkd)
    tv_bb = write_backbone(osp.join(ckpt, 'tv_r18.pth'), 'resnet18', 'baseline', None, None,
                           seed=None, top1=69.76, ece=0.026, source_format='torchvision')
    focal_bb = write_backbone(osp.join(ckpt, 'focal.pth'), 'resnet20', 'focal_kd', 'resnet110',
                              sweep[0.05, 0.005])

    det = osp.join(root, 'det')

    def voc_run(name, ckpt_path, ap, **kw):
        return write_run(det, name, det_config(ckpt_path, 'voc', **kw), [
            train_rec(1, 5), {'pascal_voc/AP50': ap, 'pascal_voc/mAP': ap, 'data_time': 0.1,
                              'time': 0.2, 'step': 1}])

    voc_run('frcnn_voc_base', base_bb, 0.50)
    voc_run('frcnn_voc_kd', kd_bb, 0.55)
    voc_run('frcnn_voc_focal', focal_bb, 0.58)
    voc_run('frcnn_voc_reviewkd_det', base_bb, 0.52,
            hook_teacher='mmdet::faster_rcnn/faster-rcnn_r101_fpn_1x_coco.py')
    write_run(det, 'frcnn_coco_kd', det_config(kd_moved, 'coco', seed=3), [
        train_rec(1, 5), {'coco/bbox_mAP': 0.301, 'coco/bbox_mAP_50': 0.502,
                          'coco/bbox_mAP_75': 0.311, 'coco/bbox_mAP_s': -1.0,
                          'coco/bbox_mAP_m': 0.25, 'coco/bbox_mAP_l': 0.4, 'step': 1}])
    seg = osp.join(root, 'seg')

    def seg_run(name, ckpt_path, miou, dataset='voc'):
        return write_run(seg, name, seg_config(ckpt_path, dataset), [
            train_rec(None, 20), {'aAcc': 80.0, 'mIoU': miou, 'mAcc': 50.0, 'step': 20},
            train_rec(None, 40), {'aAcc': 85.0, 'mIoU': miou, 'mAcc': 55.0, 'step': 40}])

    seg_run('deeplab_voc_base', base_bb, 38.0)
    seg_run('deeplab_voc_dkd', dkd_bb, 40.5)
    seg_run('deeplab_coco_tv_r18', tv_bb, 31.25, dataset='coco')
    # iter-based run stopped after its first validation (iter 20 of 40)
    write_run(seg, 'deeplab_voc_kd_stopped', seg_config(kd_bb), [
        train_rec(None, 20), {'aAcc': 80.0, 'mIoU': 30.0, 'mAcc': 50.0, 'step': 20}])
    # a detector whose backbone checkpoint was deleted
    write_run(det, 'frcnn_voc_lost_ckpt', det_config(osp.join(ckpt, 'gone.pth')), [
        train_rec(1, 5), {'pascal_voc/mAP': 0.4, 'step': 1}])
    return dict(root=root, base=base, kd0=kd0, dkd=dkd)


@pytest.fixture(scope='module')
def built(fixture_dirs, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('report'))
    report = build_report([osp.join(fixture_dirs['root'], d) for d in ('cls', 'sweep', 'det',
                                                                       'seg')],
                          out, note='generated data, small schedules', date='2025-01-01 12:00')
    with open(osp.join(out, 'report.json')) as f:
        data = json.load(f)
    with open(osp.join(out, 'report.md')) as f:
        md = f.read()
    return dict(out=out, report=report, data=data, md=md)


def find_row(data, backbone, method, teacher=None, setting=None):
    rows = [r for r in data['rows'] if (r['backbone'], r['method'], r['teacher']) ==
            (backbone, method, teacher) and (setting is None or r['setting'] == setting)]
    assert len(rows) == 1, [(r['backbone'], r['method'], r['teacher'], r['setting'])
                            for r in data['rows']]
    return rows[0]


# ----------------------------------------------------------------------------- tests
def test_classification_rows_mean_std_delta(built):
    data = built['data']
    base = find_row(data, 'resnet20', 'baseline')['metrics']
    assert base['top1']['mean'] == pytest.approx(69.0)  # the last validation, not the first
    assert base['ece']['mean'] == pytest.approx(8.0)  # ECE reported in percent
    assert base['top1']['delta'] is None

    kd = find_row(data, 'resnet20', 'kd', 'resnet56', setting={})['metrics']
    # two seeds: 70.5 and 71.1 -> mean 70.8, sample std sqrt((0.3^2 + 0.3^2) / 1)
    assert kd['top1']['n'] == 2
    assert sorted(kd['top1']['seeds']) == [0, 1]
    assert kd['top1']['mean'] == pytest.approx(70.8)
    assert kd['top1']['std'] == pytest.approx(math.sqrt(0.18))
    assert kd['top1']['delta'] == pytest.approx(70.8 - 69.0)
    # ECE 5 % and 4 % -> 4.5 +- sqrt(0.5), 3.5 points better than the baseline's 8 %
    assert kd['ece']['mean'] == pytest.approx(4.5)
    assert kd['ece']['std'] == pytest.approx(math.sqrt(0.5))
    assert kd['ece']['delta'] == pytest.approx(-3.5)

    dkd = find_row(data, 'resnet20', 'dkd', 'resnet56')['metrics']
    assert dkd['top1']['n'] == 1 and dkd['top1']['std'] is None
    assert dkd['top1']['delta'] == pytest.approx(2.9)


def test_transfer_rows(built):
    data = built['data']
    base = find_row(data, 'resnet20', 'baseline')['metrics']
    assert base['voc07_ap50']['mean'] == pytest.approx(50.0)
    assert base['voc_miou']['mean'] == pytest.approx(38.0)
    kd = find_row(data, 'resnet20', 'kd', 'resnet56')['metrics']
    # linked through the provenance work_dir (VOC) and through arch/method/teacher (COCO)
    assert kd['voc07_ap50']['mean'] == pytest.approx(55.0)
    assert kd['voc07_ap50']['delta'] == pytest.approx(5.0)
    assert kd['coco_ap']['mean'] == pytest.approx(30.1)
    assert kd['coco_ap']['seeds'] == [3]
    assert kd['coco_ap']['delta'] is None  # no COCO baseline
    assert kd['coco_ap75']['mean'] == pytest.approx(31.1)
    assert 'coco_aps' not in kd  # mmdet's -1 (no small objects) is not a value
    dkd = find_row(data, 'resnet20', 'dkd', 'resnet56')['metrics']
    assert dkd['voc_miou']['mean'] == pytest.approx(40.5)
    assert dkd['voc_miou']['delta'] == pytest.approx(2.5)

    det = find_row(data, 'resnet20', 'reviewkd-det', 'faster-rcnn_r101_fpn_1x_coco')['metrics']
    assert det['voc07_ap50']['mean'] == pytest.approx(52.0)
    assert det['voc07_ap50']['delta'] == pytest.approx(2.0)
    assert 'top1' not in det  # the detector-level distillation has no classification number

    tv = find_row(data, 'resnet18', 'baseline')['metrics']
    assert tv['coco_miou']['mean'] == pytest.approx(31.25)
    assert tv['top1']['mean'] == pytest.approx(69.76)
    assert tv['top1']['source'] == 'provenance'
    assert tv['ece']['mean'] == pytest.approx(2.6)


def test_missing_and_unfinished_listed(built, fixture_dirs):
    missing = {osp.basename(r['work_dir']): r for r in built['data']['missing']}
    assert set(missing) == {'at_r56_r20_crashed', 'fitnets_r56_r20_running',
                            'deeplab_voc_kd_stopped', 'frcnn_voc_lost_ckpt'}
    stopped = missing['deeplab_voc_kd_stopped']
    assert stopped['status'] == 'unfinished' and stopped['progress'] == 'iter 20/40'
    assert stopped['metrics'] == {'voc_miou': 30.0}
    lost = missing['frcnn_voc_lost_ckpt']
    assert lost['status'] == 'unidentified' and 'gone.pth' in lost['reason']
    assert missing['at_r56_r20_crashed']['status'] == 'missing'
    assert 'no validation record' in missing['at_r56_r20_crashed']['reason']
    running = missing['fitnets_r56_r20_running']
    assert running['status'] == 'unfinished' and running['progress'] == 'epoch 1/2'
    assert running['method'] == 'fitnets' and running['teacher'] == 'resnet56'
    # never in the result rows, always in report.md
    assert not any(r['method'] in ('at', 'fitnets') for r in built['data']['rows'])
    section = built['md'].split('## Missing / unfinished runs')[1].split('\n## ')[0]
    for name in missing:
        assert name in section
    # the stopped run's 30.0 mIoU did not leak into the kd row
    kd = find_row(built['data'], 'resnet20', 'kd', 'resnet56')['metrics']
    assert 'voc_miou' not in kd


def test_other_baseline_method(fixture_dirs):
    runs = collect_runs([osp.join(fixture_dirs['root'], 'cls')])
    rows, sweeps = summarize(runs, baseline_method='kd')
    dkd = next(r for r in rows if r.method == 'dkd')
    assert dkd.delta('top1') == pytest.approx(71.9 - 70.8)
    assert next(r for r in rows if r.method == 'baseline').delta('top1') == \
        pytest.approx(69.0 - 70.8)
    assert sweeps == []


def test_text_log_progress_when_scalars_have_no_training_record(tmp_path):
    # scalars.json holds only the validation record (step = iteration, since the logger has
    # log_metric_by_epoch=False), so the epoch reached comes from the text log
    cfg = cls_config(20).replace("train_cfg", "default_hooks = dict(logger=dict("
                                 "type='LoggerHook', log_metric_by_epoch=False))\ntrain_cfg")
    done = ('x - mmengine - INFO - Epoch(train) [1][ 5/10]  lr: 1.0e-02\n'
            'x - mmengine - INFO - Epoch(train) [2][10/10]  lr: 1.0e-02\n')
    run = write_run(str(tmp_path), 'done', cfg, [cls_val(60.0, 0.1, 20)], log_text=done)
    stopped = write_run(str(tmp_path), 'stopped', cfg, [cls_val(60.0, 0.1, 10)],
                        log_text=done.splitlines()[0] + '\n')
    runs = {osp.basename(r.run_dir): r for r in collect_runs([str(tmp_path)])}
    assert (runs['done'].status, runs['done'].progress) == ('ok', 'epoch 2/2')
    assert (runs['stopped'].status, runs['stopped'].progress) == ('unfinished', 'epoch 1/2')


def test_sweep_grid_and_heatmap(built):
    sweeps = built['data']['sweeps']
    assert len(sweeps) == 1
    sw = sweeps[0]
    assert (sw['method'], sw['teacher'], sw['backbone']) == ('focal_kd', 'resnet110', 'resnet20')
    assert (sw['x_param'], sw['y_param']) == ('alpha', 'gamma')
    assert sw['x_values'] == list(SWEEP_ALPHA) and sw['y_values'] == list(SWEEP_GAMMA)
    for yi, g in enumerate(SWEEP_GAMMA):
        for xi, a in enumerate(SWEEP_ALPHA):
            assert sw['grids']['top1'][yi][xi] == pytest.approx(sweep_top1(a, g))
            assert sw['grids']['ece'][yi][xi] == pytest.approx(100 * sweep_ece(a, g))
            voc = sw['grids']['voc07_ap50'][yi][xi]
            assert voc == (pytest.approx(58.0) if (a, g) == (0.05, 0.005) else None)
    assert sw['plot'] == 'sweep_focal_kd.png'
    path = osp.join(built['out'], sw['plot'])
    with open(path, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert '![sweep focal_kd](sweep_focal_kd.png)' in built['md']
    assert '| gamma \\ alpha | 0 | 0.05 | 0.1 |' in built['md']
    # the sweep point that was transferred: Top-1 70 + 0.5 + 0.5, delta against 69
    row = find_row(built['data'], 'resnet20', 'focal_kd', 'resnet110',
                   setting={'alpha': 0.05, 'gamma': 0.005})['metrics']
    assert row['top1']['delta'] == pytest.approx(71.0 - 69.0)
    assert row['voc07_ap50']['delta'] == pytest.approx(8.0)


def test_gain_plots_and_markdown(built):
    files = {p['file'] for p in built['data']['plots']}
    assert {'gain_voc07_ap50.png', 'gain_voc_miou.png', 'sweep_focal_kd.png'} <= files
    assert 'gain_coco_ap.png' not in files  # no COCO baseline -> no delta -> no plot
    for name in files:
        assert osp.getsize(osp.join(built['out'], name)) > 1000
    md = built['md']
    assert '- Note: generated data, small schedules' in md
    assert '- Date: 2025-01-01 12:00' in md
    kd_line = next(ln for ln in md.splitlines() if ln.startswith('| resnet20 | kd | resnet56'))
    # two seeds: t(0.975, 1) = 12.706 (t table), half-width 12.706 * 0.42426 / sqrt(2) = 3.812;
    # the baseline has one run, so the delta has no interval
    assert '70.80 ± 0.42, n=2, CI [66.99, 74.61]<br>Δ +1.80 (no interval: baseline n=1)' \
        in kd_line
    assert '30.10' in kd_line and '—' in kd_line
    assert '69.76, n=1, no interval †' in md


def test_csv_matches_json(built):
    with open(osp.join(built['out'], 'report.csv')) as f:
        rows = list(csv.DictReader(f))
    kd = next(r for r in rows if (r['backbone'], r['method'], r['setting']) ==
              ('resnet20', 'kd', ''))
    assert float(kd['top1']) == pytest.approx(70.8)
    assert float(kd['top1_std']) == pytest.approx(math.sqrt(0.18), rel=1e-5)
    assert kd['top1_n'] == '2'
    assert float(kd['voc07_ap50_delta']) == pytest.approx(5.0)
    assert kd['voc_miou'] == '' and kd['voc_miou_n'] == '0'


def test_refuses_to_overwrite_then_force(built, fixture_dirs):
    with pytest.raises(ReportError, match='already exists.*--force'):
        build_report([fixture_dirs['root']], built['out'])
    # --force through the command line (the tool's main, in this process: no re-import)
    spec = importlib.util.spec_from_file_location(
        'transfer_report_tool', osp.join(REPO, 'tools', 'transfer_report.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main([fixture_dirs['root'], '--out', built['out'], '--note', 'cli']) == 1
    assert tool.main([fixture_dirs['root'], '--out', built['out'], '--force',
                      '--note', 'cli']) == 0
    with open(osp.join(built['out'], 'report.md')) as f:
        assert '- Note: cli' in f.read()
    assert not [f for f in os.listdir(built['out']) if f.endswith('.tmp')]


def test_truncated_last_scalars_line_is_skipped_with_a_warning(tmp_path):
    # a run killed while mmengine wrote its last record: the line is skipped, file and line named
    run = write_run(str(tmp_path), 'bad', cls_config(20), raw_lines=[
        json.dumps(train_rec(1, 10)), json.dumps(cls_val(60.0, 0.1, 1)), '{"lr": 0.1, "loss'])
    report = build_report([run], str(tmp_path / 'out'))
    (r, ) = report.runs
    warning = f"{osp.join(run, TS, 'vis_data', 'scalars.json')}, line 3: not valid JSON"
    assert any(w.startswith(warning) for w in r.warnings)
    assert any(n.startswith(warning) for n in r.notes)
    assert (r.status, r.progress, r.metrics['top1']) == ('unfinished', 'epoch 1/2', 60.0)


def test_unreadable_config_names_file(tmp_path):
    run = write_run(str(tmp_path), 'broken', 'model = dict(type=\n', [cls_val(60.0, 0.1, 1)])
    report = build_report([run], str(tmp_path / 'out'))  # listed, not fatal
    (r, ) = report.runs
    assert r.status == 'unreadable' and 'broken.py' in r.reason
    with open(tmp_path / 'out' / 'report.md') as f:
        assert 'broken.py' in f.read().split('## Missing / unfinished runs')[1]


def test_missing_work_dir_and_empty_dir(tmp_path):
    with pytest.raises(ReportError, match='does not exist'):
        build_report([str(tmp_path / 'nope')], str(tmp_path / 'out'))
    with pytest.raises(ReportError, match='no mmengine run directory'):
        build_report([str(tmp_path)], str(tmp_path / 'out'))


def test_latest_launch_with_validation_is_used(tmp_path):
    # launch 1 validated epoch 1, the resumed launch 2 validated epoch 2, launch 3 (a later
    # test run) has no scalars at all
    run = write_run(str(tmp_path), 'resumed', cls_config(20), [
        train_rec(1, 10), cls_val(50.0, 0.2, 1)], ts='20250101_000000')
    vis = osp.join(run, '20250102_000000', 'vis_data')
    os.makedirs(vis)
    with open(osp.join(vis, 'scalars.json'), 'w') as f:
        f.write(json.dumps(train_rec(2, 20)) + '\n' + json.dumps(cls_val(66.0, 0.03, 2)) + '\n')
    os.makedirs(osp.join(run, '20250103_000000'))
    (r, ) = collect_runs([run])
    assert r.log_dir == osp.join(run, '20250102_000000')
    assert r.metrics == {'top1': pytest.approx(66.0), 'ece': pytest.approx(3.0)}
    assert (r.status, r.progress) == ('ok', 'epoch 2/2')
    assert any('20250103_000000' in n for n in r.notes)
