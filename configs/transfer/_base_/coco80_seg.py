# COCO 2017 semantic segmentation, 81 classes: the 80 COCO thing classes + background;
# 255 on crowd regions.
# Masks written by
#   python tools/coco_to_semseg.py data/coco --classes coco80  # -> data/coco/semseg_coco80/
# Train on train2017, evaluate on val2017 with IoUMetric. Dataset dicts without pipelines:
# the transfer configs add the upstream pipelines.
seg_num_classes = 81
seg_data_root = 'data/coco/'
seg_train_dataset = dict(
    type='COCOSemSegDataset',
    classes_variant='coco80',
    data_root=seg_data_root,
    data_prefix=dict(img_path='train2017', seg_map_path='semseg_coco80/train2017'))
seg_val_dataset = dict(
    type='COCOSemSegDataset',
    classes_variant='coco80',
    data_root=seg_data_root,
    data_prefix=dict(img_path='val2017', seg_map_path='semseg_coco80/val2017'))
