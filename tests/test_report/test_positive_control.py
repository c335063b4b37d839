"""Issue 14 item 3: transfer runs from a random backbone are the ``scratch`` rows, and the report's
positive control compares them with the pretrained baseline (Welch's interval, by hand)."""
import json
import os.path as osp

import pytest

from kd_transfer.report import build_report

from test_transfer_report import det_config, seg_config, train_rec, write_backbone, write_run

PRETRAINED_AP = (0.50, 0.52, 0.54)   # x100: mean 52, variance 4
SCRATCH_AP = (0.30, 0.32, 0.34)      # x100: mean 32, variance 4
PRETRAINED_MIOU = (40.0, 44.0, 48.0)  # mean 44, variance 16
SCRATCH_MIOU = (38.0, 40.0, 42.0)     # mean 40, variance 4


def _scratch(config: str, ckpt: str) -> str:
    old = f"init_cfg=dict(type='Pretrained', checkpoint={ckpt!r})"
    assert old in config
    return config.replace(old, 'init_cfg=None')


@pytest.fixture(scope='module')
def control(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('control'))
    for seed in range(3):
        bb = write_backbone(osp.join(root, f'bb{seed}.pth'), 'resnet18', 'baseline', None, None,
                            seed=seed)
        for name, cfg, ap in ((f'det_base_s{seed}', det_config(bb, seed=seed),
                               PRETRAINED_AP[seed]),
                              (f'det_scratch_s{seed}', _scratch(det_config(bb, seed=seed), bb),
                               SCRATCH_AP[seed])):
            write_run(osp.join(root, 'det'), name, cfg,
                      [train_rec(1, 5), {'pascal_voc/mAP': ap, 'step': 1}])
        for name, cfg, miou in ((f'seg_base_s{seed}', seg_config(bb, seed=seed),
                                 PRETRAINED_MIOU[seed]),
                                (f'seg_scratch_s{seed}', _scratch(seg_config(bb, seed=seed), bb),
                                 SCRATCH_MIOU[seed])):
            write_run(osp.join(root, 'seg'), name, cfg, [
                train_rec(None, 20), {'mIoU': miou, 'step': 20},
                train_rec(None, 40), {'mIoU': miou, 'step': 40}])
    out = osp.join(root, 'report')
    build_report([osp.join(root, 'det'), osp.join(root, 'seg')], out)
    with open(osp.join(out, 'report.json')) as f:
        data = json.load(f)
    with open(osp.join(out, 'report.md')) as f:
        md = f.read()
    return data, md


def test_scratch_runs_are_identified_rows(control):
    data, md = control
    assert data['missing'] == []  # no longer "unidentified"
    rows = {(r['backbone'], r['method']): r for r in data['rows']}
    assert set(rows) == {('resnet18', 'baseline'), ('resnet18', 'scratch')}
    scratch = rows['resnet18', 'scratch']['metrics']
    assert scratch['voc07_ap50']['values'] == pytest.approx([30.0, 32.0, 34.0])
    assert scratch['voc07_ap50']['seeds'] == [0, 1, 2]
    assert 'None: every run finished and was identified.' in md


def test_positive_control_by_hand(control):
    data, md = control
    det, seg = data['positive_control']
    # det: 52 - 32 = 20; se^2 = 4/3 + 4/3 = 8/3, se = 1.632993; df = (8/3)^2 /
    # (2 * (4/3)^2 / 2) = 4; t(0.975, 4) = 2.776445 -> half-width 4.533899
    assert (det['backbone'], det['metric']) == ('resnet18', 'voc07_ap50')
    assert det['pretrained'] == pytest.approx([50.0, 52.0, 54.0])
    assert det['delta'] == pytest.approx(20.0)
    assert det['df'] == pytest.approx(4.0)
    assert det['ci_low'] == pytest.approx(20 - 4.533899, abs=1e-4)
    assert det['ci_high'] == pytest.approx(20 + 4.533899, abs=1e-4)
    assert det['excludes_zero'] is True and det['passed'] is True
    # seg: 44 - 40 = 4; se^2 = 16/3 + 4/3 = 20/3, se = 2.581989; df = (20/3)^2 /
    # ((16/3)^2 / 2 + (4/3)^2 / 2) = 400 / 136 = 2.941176 < 3, so t > t(0.975, 3) = 3.182 and
    # the half-width exceeds 3.182 * 2.581989 = 8.216 > 4: the interval holds 0
    assert seg['metric'] == 'voc_miou' and seg['delta'] == pytest.approx(4.0)
    assert seg['df'] == pytest.approx(400 / 136)
    assert seg['ci_low'] < 0 < seg['ci_high'] and seg['ci_high'] - 4 > 8.216
    assert seg['excludes_zero'] is False and seg['passed'] is False
    section = md[md.index('## Positive control'):md.index('## Missing')]
    assert '50.0, 52.0, 54.0 (mean 52.00)' in section and '30.0, 32.0, 34.0' in section
    assert '+20.00 [+15.47, +24.53] *' in section
    assert '| yes |' in section and '| no |' in section
