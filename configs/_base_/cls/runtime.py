# Runtime shared by every classification (teacher / student / distillation) config.
default_scope = None  # kd_transfer registers into mmengine's root registries
custom_imports = dict(imports=['kd_transfer'], allow_failed_imports=False)
# batches are collated into one uint8 tensor (normalised once per batch on the device) and
# copied from pinned memory without blocking; see docs/benchmarks.md

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=2,
                    save_best='cls/top1', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'))
# kd_transfer.hooks (finite_loss, random_state): stop at the first NaN / Inf loss term before
# its iteration is checkpointed; checkpoint the random states so that --resume continues bit
# for bit
custom_hooks = [dict(type='FiniteLossHook'), dict(type='RandomStateHook')]
# fixed input sizes: let cuDNN pick the fastest convolution algorithms once
env_cfg = dict(cudnn_benchmark=True,
               mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
log_processor = dict(window_size=50, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
