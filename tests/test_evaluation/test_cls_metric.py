"""ClsCalibMetric and expected_calibration_error against hand-computed values."""
import math

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator

from kd_transfer.datasets import ClsDataSample
from kd_transfer.evaluation import ClsCalibMetric, expected_calibration_error

# Four predictions over three classes.
#   sample  probs              label  conf  argmax  correct  15-bin index (conf in (b/15,(b+1)/15])
#   p1      [0.9, 0.05, 0.05]  0      0.9   0       yes      13  (0.8667, 0.9333]
#   p2      [0.2, 0.7, 0.1]    0      0.7   1       no       10  (0.6667, 0.7333]
#   p3      [0.1, 0.2, 0.7]    2      0.7   2       yes      10
#   p4      [0.5, 0.3, 0.2]    1      0.5   0       no        7  (0.4667, 0.5333]
# bin 13: n=1 acc=1   conf=0.9 -> 1/4 * 0.1 = 0.025
# bin 10: n=2 acc=0.5 conf=0.7 -> 2/4 * 0.2 = 0.100
# bin  7: n=1 acc=0   conf=0.5 -> 1/4 * 0.5 = 0.125
# ECE = 0.25
PROBS = [[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.5, 0.3, 0.2]]
LABELS = [0, 0, 2, 1]
# top-1: p1, p3 correct -> 50 %. top-2: p2's top-2 {1, 0} holds 0, p4's {0, 1} holds 1 -> 100 %.
# NLL: p_y = 0.9, 0.2, 0.7, 0.3
NLL = -(math.log(0.9) + math.log(0.2) + math.log(0.7) + math.log(0.3)) / 4  # 0.818861...


def test_ece_hand_example():
    assert expected_calibration_error(PROBS, LABELS, n_bins=15) == pytest.approx(0.25, abs=1e-9)
    # numpy and torch inputs give the same number
    assert expected_calibration_error(np.array(PROBS), torch.tensor(LABELS)) == pytest.approx(0.25)


def test_ece_bins_are_closed_on_the_right():
    # Two bins: (0, 0.5] and (0.5, 1].
    #   [0.5, 0.3, 0.2] label 0: conf 0.5 (bin 0), correct
    #   [0.25, 0.75, 0] label 0: conf 0.75 (bin 1), wrong
    #   [0.6, 0.4, 0]   label 0: conf 0.6 (bin 1), correct
    # bin 0: 1/3 * |1 - 0.5| ; bin 1: 2/3 * |0.5 - 0.675| -> (0.5 + 0.35) / 3
    # (with [lower, upper) bins the 0.5 would join bin 1 and the ECE would be 0.05)
    probs = [[0.5, 0.3, 0.2], [0.25, 0.75, 0.0], [0.6, 0.4, 0.0]]
    assert expected_calibration_error(probs, [0, 0, 0], n_bins=2) == pytest.approx(0.85 / 3)


def test_ece_perfectly_calibrated_and_overconfident():
    # confidence 1 and always right -> 0; confidence 1 and always wrong -> 1
    assert expected_calibration_error([[1.0, 0.0], [0.0, 1.0]], [0, 1]) == pytest.approx(0.0)
    assert expected_calibration_error([[1.0, 0.0], [0.0, 1.0]], [1, 0]) == pytest.approx(1.0)


def test_ece_rejects_bad_shapes():
    with pytest.raises(ValueError, match='N x K'):
        expected_calibration_error([0.2, 0.8], [1])


def _run(metric, samples):
    metric.process(None, samples)
    return metric.compute_metrics(metric.results)


def test_metric_hand_values_with_dict_samples():
    samples = [dict(pred_score=torch.tensor(p), gt_label=torch.tensor([y]))
               for p, y in zip(PROBS, LABELS)]
    out = _run(ClsCalibMetric(topk=(1, 2, 5)), samples)
    assert out['top1'] == pytest.approx(50.0)
    assert out['top2'] == pytest.approx(100.0)
    assert out['top5'] == pytest.approx(100.0)  # k > K counts every sample
    assert out['ece'] == pytest.approx(0.25)
    assert out['nll'] == pytest.approx(NLL)


def test_metric_through_evaluator_with_data_elements():
    evaluator = Evaluator(dict(type='ClsCalibMetric'))
    samples = [ClsDataSample().set_gt_label(y).set_pred_score(torch.tensor(p))
               for p, y in zip(PROBS, LABELS)]
    evaluator.process(samples[:2])
    evaluator.process(samples[2:])
    out = evaluator.evaluate(4)
    assert set(out) == {'cls/top1', 'cls/top5', 'cls/ece', 'cls/nll'}
    assert out['cls/top1'] == pytest.approx(50.0)
    assert out['cls/ece'] == pytest.approx(0.25)
    assert out['cls/nll'] == pytest.approx(NLL)


def test_metric_refuses_logits():
    samples = [dict(pred_score=torch.tensor([2.0, -1.0, 0.5]), gt_label=0)]
    with pytest.raises(ValueError, match='probabilities'):
        _run(ClsCalibMetric(), samples)


def test_metric_refuses_out_of_range_label_and_missing_field():
    with pytest.raises(ValueError, match=r'\[0, 3\)'):
        _run(ClsCalibMetric(), [dict(pred_score=torch.tensor(PROBS[0]), gt_label=3)])
    with pytest.raises(KeyError, match='pred_score'):
        ClsCalibMetric().process(None, [dict(gt_label=0)])
