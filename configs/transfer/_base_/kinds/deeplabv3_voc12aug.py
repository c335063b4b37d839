# DeepLabV3 on VOC2012 + SBD aug: mmseg's deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py with the
# recipe's own data; ../seg_lr.py records the recipe's total batch (lr scaling). The kind of
# every configs/transfer/seg/deeplabv3_<student>_voc12aug.py (whose header gives the schedule and
# the departures), which adds the student file and the student glue
# (kd_transfer/transfer_glue.py).
_base_ = ['mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py',
          '../seg_lr.py']
sync_bn = 'torch'  # as upstream's SyncBN, also for the students' own BatchNorm layers
