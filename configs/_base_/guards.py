# kd_transfer's guards for the detection / segmentation configs (classification configs get
# them from cls/runtime.py): FiniteLossHook stops training at the first NaN / Inf loss term,
# before that iteration is checkpointed, and refuses to checkpoint non-finite weights.
# Every configs/transfer/ config inherits this file through its student file
# (configs/_base_/students/*.py); the ReviewKD configs, whose custom_hooks list replaces the
# inherited one, name FiniteLossHook themselves. tests/test_configs/test_finite_loss_everywhere.py
# checks that every shipped config has it. BackboneRecordHook writes
# <work_dir>/backbone_record.json at the start of training (the backbone file's SHA-256 and
# provenance), which the report reads instead of the file currently at the path.
custom_imports = dict(imports=['kd_transfer'], allow_failed_imports=False)
custom_hooks = [dict(type='FiniteLossHook'), dict(type='BackboneRecordHook')]
