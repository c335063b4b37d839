# mmdet's Faster R-CNN R50-FPN Pascal VOC recipe (pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py)
# restricted to VOC2007: train on VOC2007 trainval (5011 images), test on VOC2007 test (4952)
# with VOCMetric (mAP, eval_mode '11points', as upstream). Schedule as upstream: 4 epochs over
# the training set repeated 3 times (12 effective epochs), SGD lr 0.01 for 8 GPUs x 2 images,
# x0.1 after epoch 3. The kind of every configs/transfer/det/faster-rcnn_<student>_fpn_voc07.py,
# which adds the student file and the student glue (kd_transfer/transfer_glue.py).
_base_ = 'mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py'

data_root = 'data/VOCdevkit/'
train_dataloader = dict(
    dataset=dict(  # RepeatDataset(times=3) as upstream
        dataset=dict(
            _delete_=True,  # upstream concatenates VOC2007 and VOC2012
            type='VOCDataset',
            data_root=data_root,
            ann_file='VOC2007/ImageSets/Main/trainval.txt',
            data_prefix=dict(sub_data_root='VOC2007/'),
            filter_cfg=dict(filter_empty_gt=True, min_size=32, bbox_min_size=32),
            pipeline=_base_.train_pipeline,
            backend_args=_base_.backend_args)))
