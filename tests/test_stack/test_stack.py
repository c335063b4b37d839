"""The OpenMMLab stack works on this torch: compiled mmcv ops, an mmdet and an mmseg step."""
from pathlib import Path

import pytest
import torch

import kd_transfer  # noqa: F401  (registers, patches checkpoint loading)

CONFIGS = Path(__file__).parent / 'configs'


def test_mmcv_compiled_ops_compute_nms_and_roi_align():
    from mmcv.ops import RoIAlign, nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    # IoU(box0, box1) = 81 / 119 = 0.68 > 0.5 -> box1 suppressed; box2 does not overlap.
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    feat = torch.arange(16.).reshape(1, 1, 4, 4)
    # aligned=True shifts the roi [0.5, 2.5]^2 by -0.5 to [0, 2]^2; one bin, one sample at its
    # centre (1, 1), an integer position, so bilinear sampling returns feat[1, 1] = 5
    roi = torch.tensor([[0., 0.5, 0.5, 2.5, 2.5]])
    out = RoIAlign(output_size=1, spatial_scale=1.0, sampling_ratio=1, aligned=True)(feat, roi)
    assert out.item() == pytest.approx(5.0)


def _det_batch(n_classes=3, size=96):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    g = torch.Generator().manual_seed(0)
    inputs = [torch.randint(0, 255, (3, size, size), generator=g, dtype=torch.uint8)]
    sample = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                         scale_factor=(1., 1.), pad_shape=(size, size)))
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[10., 12., 60., 70.]]),
                                       labels=torch.tensor([1]))
    return dict(inputs=inputs, data_samples=[sample])


def test_faster_rcnn_r18_fpn_train_and_predict_step_on_cpu():
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(str(CONFIGS / 'faster-rcnn_r18_fpn_stack.py'))
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)))
    # the upstream config freezes the stem and layer1 (frozen_stages=1)
    before = {n: p.detach().clone() for n, p in model.backbone.named_parameters() if p.requires_grad}
    losses = model.train_step(_det_batch(), optim)
    assert {'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox'} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    after = dict(model.backbone.named_parameters())
    assert any(not torch.equal(v, after[n]) for n, v in before.items())  # the step trained
    model.eval()
    with torch.no_grad():
        preds = model.val_step(_det_batch())
    assert preds[0].pred_instances.bboxes.shape[-1] == 4


def test_deeplabv3plus_r18_train_and_predict_step_on_cpu():
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    from mmseg.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(str(CONFIGS / 'deeplabv3plus_r18_stack.py'))
    cfg.model.backbone.norm_cfg = dict(type='BN', requires_grad=True)  # SyncBN needs a process group
    cfg.model.decode_head.norm_cfg = dict(type='BN', requires_grad=True)
    cfg.model.auxiliary_head.norm_cfg = dict(type='BN', requires_grad=True)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=0.01)))

    def batch():
        g = torch.Generator().manual_seed(0)
        sample = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64),
                                             pad_shape=(64, 64)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 4, (1, 64, 64), generator=g))
        return dict(inputs=[torch.randint(0, 255, (3, 64, 64), generator=g, dtype=torch.uint8)] * 2,
                    data_samples=[sample, sample])

    losses = model.train_step(batch(), optim)
    assert 'decode.loss_ce' in losses and torch.isfinite(losses['decode.loss_ce'])
    model.eval()
    with torch.no_grad():
        preds = model.val_step(batch())
    assert preds[0].pred_sem_seg.data.shape == (1, 64, 64)
