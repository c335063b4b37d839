# Faster R-CNN + FPN on COCO 2017: mmdet's faster-rcnn_r50_fpn_1x_coco.py as it is (1x
# schedule, 8 GPUs x 2 images). The kind of every
# configs/transfer/det/faster-rcnn_<student>_fpn_1x_coco.py, which adds the student file and
# the student glue (kd_transfer/transfer_glue.py).
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']
