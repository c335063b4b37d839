# Pascal VOC2007 segmentation split for mmseg's PascalVOCDataset: train on
# ImageSets/Segmentation/trainval.txt (422 images), test on ImageSets/Segmentation/test.txt
# (210 images; VOC2007 test annotations are public), 21 classes (background + 20).
# Dataset dicts without pipelines: the transfer configs add the upstream pipelines.
seg_num_classes = 21
seg_data_root = 'data/VOCdevkit/VOC2007'
seg_train_dataset = dict(
    type='PascalVOCDataset',
    data_root=seg_data_root,
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    ann_file='ImageSets/Segmentation/trainval.txt')
seg_val_dataset = dict(
    type='PascalVOCDataset',
    data_root=seg_data_root,
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    ann_file='ImageSets/Segmentation/test.txt')
