# DeepLabV3+ on COCO 2017, 81 classes: mmseg's deeplabv3plus_r50-d8_4xb4-40k_voc12aug-512x512.py
# with the COCO masks of ../coco80_seg.py; ../seg_lr.py records the recipe's total batch (lr
# scaling). The kind of every configs/transfer/seg/deeplabv3plus_<student>_coco80.py (whose
# header gives the schedule and the departures), which adds the student file and the student glue
# (kd_transfer/transfer_glue.py).
_base_ = ['mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb4-40k_voc12aug-512x512.py',
          '../seg_lr.py', '../coco80_seg.py']
sync_bn = 'torch'  # as upstream's SyncBN, also for the students' own BatchNorm layers
