"""A Distiller's samples carry teacher scores too: the metric reports both, separately."""
import math

import pytest
import torch

from kd_transfer.evaluation.cls_metric import ClsCalibMetric


def test_teacher_scores_are_reported_beside_the_students():
    metric = ClsCalibMetric(topk=(1,))
    samples = [
        # student right (p=0.7), teacher wrong (p_y=0.4)
        dict(pred_score=torch.tensor([0.7, 0.3]), teacher_pred_score=torch.tensor([0.4, 0.6]),
             gt_label=torch.tensor([0])),
        # student wrong (p_y=0.2), teacher right (p=0.9)
        dict(pred_score=torch.tensor([0.8, 0.2]), teacher_pred_score=torch.tensor([0.1, 0.9]),
             gt_label=torch.tensor([1])),
    ]
    metric.process({}, samples)
    out = metric.compute_metrics(metric.results)
    assert out['top1'] == 50.0 and out['teacher_top1'] == 50.0
    assert out['nll'] == pytest.approx(-(math.log(0.7) + math.log(0.2)) / 2, rel=1e-6)
    assert out['teacher_nll'] == pytest.approx(-(math.log(0.4) + math.log(0.9)) / 2, rel=1e-6)
    # teacher ECE: confidences 0.6 (wrong) and 0.9 (right) in different bins:
    # 1/2 * |0 - 0.6| + 1/2 * |1 - 0.9| = 0.35
    assert out['teacher_ece'] == pytest.approx(0.35, rel=1e-6)
