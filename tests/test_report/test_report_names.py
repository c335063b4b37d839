"""One source of method and architecture names: a loss registered here (in the test) gets the
same name from the exporter's provenance and from the report, so its rows join."""
import json
import os
import os.path as osp

import pytest
from mmengine.config import Config
from torch import nn

from kd_transfer.distill.names import (DISTILL_METHODS, method_name, methods_name,
                                       register_method, unregister_method)
from kd_transfer.export import method_of, teacher_of
from kd_transfer.models.names import arch_short_name
from kd_transfer.report import build_report
from test_transfer_report import (cls_run, det_config, find_row, train_rec, write_backbone,
                                  write_run)


@pytest.fixture
def foo_loss():
    @register_method('foo')
    class FooBarLoss(nn.Module):
        """A new distillation loss whose short name is not its class name."""

    yield FooBarLoss
    unregister_method('foo')
    assert 'foo' not in DISTILL_METHODS


def test_method_names_from_the_registration(foo_loss):
    assert DISTILL_METHODS['foo'] == 'FooBarLoss'
    assert [method_name(t) for t in ('FooBarLoss', 'mmdet.FooBarLoss', 'foo', 'KDLoss',
                                     'FocalCalibKDLoss', 'NotRegisteredLoss')] == [
        'foo', 'foo', 'foo', 'kd', 'focal_kd', 'notregistered']
    assert methods_name(['KDLoss', 'FooBarLoss']) == 'kd+foo'
    with pytest.raises(KeyError, match="'foo' is already registered for FooBarLoss"):
        register_method('foo')(type('OtherLoss', (nn.Module, ), {}))


def test_arch_names_outside_the_table_follow_its_pattern():
    assert arch_short_name(dict(type='CifarResNet', depth=20, num_classes=100)) == 'resnet20'
    assert arch_short_name(dict(type='CifarResNet', depth=26)) == 'resnet26'  # not in ARCHS
    assert arch_short_name(dict(type='CifarResNet', depth=26, width=2)) == 'resnet26x2'
    assert arch_short_name(dict(type='WideResNet', depth=28, widen_factor=10)) == 'wrn28_10'
    assert arch_short_name(dict(type='SomethingElse')) is None


def test_new_loss_classification_and_transfer_rows_join(foo_loss, tmp_path):
    root = str(tmp_path)
    cls_root = osp.join(root, 'cls')
    cls_run(cls_root, 'baseline_r20', 69.0, 0.08, student_depth=20)
    foo_dir = cls_run(cls_root, 'foo_r26_r20', 72.0, 0.05, student_depth=20, teacher_depth=26,
                      losses="[dict(type='FooBarLoss', loss_weight=2.0)]")
    # the provenance the exporter writes for that run's student
    model_cfg = Config.fromfile(osp.join(foo_dir, 'foo_r26_r20.py'))['model']
    method, teacher = method_of(model_cfg, 'distiller'), teacher_of(model_cfg)
    assert (method, teacher) == ('foo', 'resnet26')
    ckpt = osp.join(root, 'ckpt')
    os.makedirs(ckpt)
    base_bb = write_backbone(osp.join(ckpt, 'base.pth'), 'resnet20', 'baseline', None,
                             '/elsewhere/baseline_r20')
    # moved work dir: the rows can only join through the names
    foo_bb = write_backbone(osp.join(ckpt, 'foo.pth'), 'resnet20', method, teacher,
                            '/elsewhere/foo_r26_r20')
    det = osp.join(root, 'det')
    for name, path, ap in (('frcnn_base', base_bb, 0.50), ('frcnn_foo', foo_bb, 0.57)):
        write_run(det, name, det_config(path, 'voc'), [
            train_rec(1, 5), {'pascal_voc/mAP': ap, 'pascal_voc/AP50': ap, 'step': 1}])
    out = osp.join(root, 'report')
    build_report([cls_root, det], out, date='2025-01-01 12:00')
    with open(osp.join(out, 'report.json')) as f:
        data = json.load(f)
    row = find_row(data, 'resnet20', 'foo', 'resnet26')['metrics']
    assert row['top1']['mean'] == pytest.approx(72.0)
    assert row['voc07_ap50']['mean'] == pytest.approx(57.0)
    assert row['voc07_ap50']['delta'] == pytest.approx(7.0)
