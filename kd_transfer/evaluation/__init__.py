"""Metrics that mmengine / mmdet / mmseg do not provide (registered in the root METRICS)."""
from .cls_metric import ClsCalibMetric, expected_calibration_error

__all__ = ['ClsCalibMetric', 'expected_calibration_error']
