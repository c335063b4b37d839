# mmdet's Faster R-CNN R-50-FPN VOC config trained on VOC2007 trainval only (mmdet's own
# trains on VOC2007 + VOC2012); tested on VOC2007 test, AP50 with 11-point interpolation.
# The dataset is still repeated 3 times per epoch, 4 epochs: the 1x schedule.
_base_ = ['mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py',
          '../../_base_/guards.py']  # FiniteLossHook

train_dataloader = dict(
    dataset=dict(
        dataset=dict(
            _delete_=True,
            type='VOCDataset',
            data_root={{_base_.data_root}},
            ann_file='VOC2007/ImageSets/Main/trainval.txt',
            data_prefix=dict(sub_data_root='VOC2007/'),
            filter_cfg=dict(filter_empty_gt=True, min_size=32, bbox_min_size=32),
            pipeline={{_base_.train_pipeline}},
            backend_args={{_base_.backend_args}})))
