"""The student glue of the transfer configs, written once.

A transfer config (``configs/transfer/<task>/<kind>_<student>.py``) inherits a kind file
(``configs/transfer/_base_/kinds/<kind>.py``: an upstream mmdet / mmseg recipe and its dataset)
and a student file (``configs/_base_/students/<student>.py``: the backbone and its numbers).
What joins the two is the same for every student: feed the backbone the normalisation it was
trained with, size the neck / heads from its channels and strides, and shrink every image size
of the pipelines by its ``input_downscale``. mmengine runs a ``.py`` config as Python with
``_base_`` bound to the merged bases, so each config ends with

    from kd_transfer.transfer_glue import student_glue  # noqa: E402
    globals().update(student_glue(_base_))

and :func:`student_glue` returns the keys the config sets. The recipe decides which glue
applies (mmdet's ``default_scope`` -> detection, mmseg's -> segmentation, a DeepLabV3+ head ->
its ``c1`` branch too, a ``RepeatDataset`` / ``ConcatDataset`` / the kind's own dataset -> where
the pipelines go), so a config has no per-student line to keep in step.

:func:`student_numbers` is the part of a student file computed from its measured strides
(``input_downscale``, ``fpn_strides``, ``seg_out_stride``, ``aspp_dilations``).
"""
from typing import Any, Dict, List, Mapping, Sequence

SIZE_KEYS = ('scale', 'crop_size', 'size')


class TransferGlueError(ValueError):
    """The bases of a transfer config lack what the glue reads."""


def student_numbers(backbone_strides: Sequence[int],
                    seg_backbone_strides: Sequence[int]) -> Dict[str, Any]:
    """The values a student file derives from its strides.

    * ``input_downscale``: inputs are shrunk so that the finest output sits at stride 4 of the
      original image (1 for ImageNet students; CIFAR students, whose stem does not downsample,
      see 1/4-size images);
    * ``fpn_strides``: the backbone levels, then max-pooled extra levels up to five in total;
    * ``seg_out_stride``: DeepLab's output stride counted on the original image;
    * ``aspp_dilations``: DeepLab's ASPP rates by its rule rate x output stride = constant,
      (12, 24, 36) at 8 (mmseg's d8 recipes), (6, 12, 18) at 16.
    """
    input_downscale = max(1, 4 // backbone_strides[0])
    fpn_strides = list(backbone_strides) + [backbone_strides[-1] * 2**i
                                            for i in range(1, 6 - len(backbone_strides))]
    seg_out_stride = seg_backbone_strides[-1] * input_downscale
    aspp_dilations = (1, ) + tuple(rate * 8 // seg_out_stride for rate in (12, 24, 36))
    return dict(input_downscale=input_downscale, fpn_strides=fpn_strides,
                seg_out_stride=seg_out_stride, aspp_dilations=aspp_dilations)


def shrink(pipeline: Sequence[Mapping], factor: int) -> List[dict]:
    """The pipeline with every image size divided by ``factor`` (the student's downscale)."""
    return [dict(t, **{k: tuple(v // factor for v in t[k]) for k in SIZE_KEYS if k in t})
            for t in pipeline]


def _need(base: Mapping, keys: Sequence[str]) -> None:
    missing = [k for k in keys if k not in base]
    if missing:
        raise TransferGlueError(
            f'transfer config: its bases define no {missing}; a transfer config inherits a '
            'kind file (configs/transfer/_base_/kinds/) and a student file '
            '(configs/_base_/students/)')


def _preprocessor(base: Mapping, **extra) -> dict:
    """The normalisation the student was trained with (mmcv loads BGR images: swap to RGB)."""
    norm = base['student_norm']
    return dict(extra, mean=norm['mean'], std=norm['std'],
                bgr_to_rgb=norm['channel_order'] == 'RGB')


def det_glue(base: Mapping) -> Dict[str, Any]:
    """Faster R-CNN + FPN with the student backbone (the keys a det config sets)."""
    factor = base['input_downscale']
    model = dict(
        data_preprocessor=_preprocessor(base),
        # as mmdet's ResNet recipe: BatchNorm statistics frozen, stem + first stage frozen
        backbone=dict(base['backbone'], norm_eval=True, frozen_stages=1),
        neck=dict(in_channels=base['backbone_channels']),
        rpn_head=dict(anchor_generator=dict(strides=base['fpn_strides'])),
        roi_head=dict(bbox_roi_extractor=dict(featmap_strides=base['fpn_strides'][:4],
                                              finest_scale=56 // factor)))
    train_pipeline = shrink(base['train_pipeline'], factor)
    test_pipeline = shrink(base['test_pipeline'], factor)
    train_set = dict(pipeline=train_pipeline)
    if base['train_dataloader']['dataset']['type'] == 'RepeatDataset':  # as upstream's VOC
        train_set = dict(dataset=train_set)
    val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
    return dict(model=model, train_pipeline=train_pipeline, test_pipeline=test_pipeline,
                train_dataloader=dict(dataset=train_set), val_dataloader=val_dataloader,
                test_dataloader=val_dataloader)


def seg_glue(base: Mapping) -> Dict[str, Any]:
    """DeepLabV3 / V3+ with the student backbone (the keys a seg config sets).

    The kind's dataset (``seg_train_dataset`` / ``seg_val_dataset`` /
    ``seg_num_classes`` of configs/transfer/_base_/*_seg.py) replaces the recipe's when the
    kind has one; otherwise the recipe's datasets get the shrunk pipelines.
    """
    _need(base, ('seg_backbone', 'seg_heads', 'aspp_dilations'))
    factor = base['input_downscale']
    channels, heads = base['backbone_channels'], base['seg_heads']
    crop_size = tuple(v // factor for v in base['crop_size'])
    num_classes = base.get('seg_num_classes', base['model']['decode_head']['num_classes'])
    decode_head = dict(num_classes=num_classes, in_channels=channels[-1],
                       in_index=len(channels) - 1, channels=heads['channels'],
                       dilations=base['aspp_dilations'])
    if 'c1_in_channels' in base['model']['decode_head']:  # DeepLabV3+: the low-level branch
        decode_head.update(c1_in_channels=channels[0], c1_channels=heads['c1_channels'])
    model = dict(
        pretrained=None,  # the backbone's init_cfg loads the exported student instead
        data_preprocessor=_preprocessor(base, size=crop_size),
        backbone=dict(base['backbone'], **base['seg_backbone']),  # the output-stride setting
        decode_head=decode_head,
        auxiliary_head=dict(num_classes=num_classes, in_channels=channels[-2],
                            in_index=len(channels) - 2, channels=heads['aux_channels']))
    train_pipeline = shrink(base['train_pipeline'], factor)
    test_pipeline = shrink(base['test_pipeline'], factor)
    train_set = base['train_dataloader']['dataset']
    if 'seg_train_dataset' in base:  # the kind's own dataset
        train_dataloader = dict(dataset=dict(_delete_=True, pipeline=train_pipeline,
                                              **base['seg_train_dataset']))
        val_dataloader = dict(dataset=dict(_delete_=True, pipeline=test_pipeline,
                                            **base['seg_val_dataset']))
    elif train_set['type'] == 'ConcatDataset':  # VOC2012 train + SBD aug, as upstream
        train_dataloader = dict(dataset=dict(datasets=[dict(d, pipeline=train_pipeline)
                                                       for d in train_set['datasets']]))
        val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
    else:
        raise TransferGlueError(
            f'transfer config: the recipe\'s train dataset is a {train_set["type"]} and the '
            'kind file gives no seg_train_dataset; add one (configs/transfer/_base_/*_seg.py)')
    return dict(crop_size=crop_size, model=model, train_pipeline=train_pipeline,
                test_pipeline=test_pipeline, train_dataloader=train_dataloader,
                val_dataloader=val_dataloader, test_dataloader=val_dataloader)


def student_glue(base: Mapping) -> Dict[str, Any]:
    """The keys a transfer config sets, from its merged bases (recipe + student file)."""
    _need(base, ('default_scope', 'backbone', 'backbone_channels', 'student_norm',
                 'input_downscale', 'fpn_strides', 'train_pipeline', 'test_pipeline'))
    scope = base['default_scope']
    if scope == 'mmdet':
        return det_glue(base)
    if scope == 'mmseg':
        return seg_glue(base)
    raise TransferGlueError(f'transfer config: default_scope {scope!r} of its recipe; '
                            'expected an mmdet or mmseg recipe')


__all__ = ['TransferGlueError', 'student_numbers', 'shrink', 'det_glue', 'seg_glue',
           'student_glue']
