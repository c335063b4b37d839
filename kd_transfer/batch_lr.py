"""The learning rate at the user's real total batch (linear scaling from the recipe's batch).

A config names the total batch its learning rate was published for in
``auto_scale_lr.base_batch_size`` (kd_transfer's classification configs: 64 for CIFAR-100, 256
for ImageNet; mmdet's recipes: 16; kd_transfer's segmentation configs: the mmseg recipe's
GPUs x batch). ``tools/train.py`` scales the learning rate linearly to the run's real total
batch (GPUs x ``batch_size``) by default -- also when the config says ``enable=False``, as
mmdet's upstream configs do -- and prints the effective batch and learning rate;
``--no-auto-scale-lr`` keeps the config's learning rate on purpose (printed as such). mmengine's
Runner performs the scaling (``auto_scale_lr.enable=True``).
"""
from typing import Optional

from mmengine.config import Config


def world_size() -> int:
    """Processes of this run (1 without a process group)."""
    import torch.distributed as dist
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def apply_lr_policy(cfg: Config, choice: Optional[bool] = None, log=print) -> Optional[float]:
    """Decide the learning rate for this run's total batch and say what was decided.

    Args:
        cfg (Config): The run's config; ``cfg.auto_scale_lr.enable`` is set in place.
        choice (bool, optional): ``False`` (``--no-auto-scale-lr``) keeps the config's lr
            whatever the batch; ``True`` (``--auto-scale-lr``) or ``None`` (the default) scale
            it when the config names its recipe batch.
        log (callable): Where the one-line summary goes.

    Returns:
        float | None: The effective base learning rate (``None`` when the config has none).

    Raises:
        KeyError: ``--auto-scale-lr`` on a config without ``auto_scale_lr.base_batch_size``.
    """
    loader = cfg.get('train_dataloader') or {}
    per_process = loader.get('batch_size')
    lr = ((cfg.get('optim_wrapper') or {}).get('optimizer') or {}).get('lr')
    auto = cfg.get('auto_scale_lr') or {}
    base = auto.get('base_batch_size')
    if per_process is None:
        return lr
    total = world_size() * int(per_process)
    head = f'[kd_transfer] total batch {world_size()} x {per_process} = {total}'
    if base is None:
        if choice:
            raise KeyError('--auto-scale-lr: the config has no auto_scale_lr.base_batch_size '
                           '(the total batch its learning rate was set for)')
        log(f'{head}; lr {lr} as in the config (it names no recipe batch: '
            'auto_scale_lr.base_batch_size)')
        return lr
    enable = choice is not False
    cfg.auto_scale_lr = dict(auto, enable=enable)
    ratio = total / float(base)
    head += f' (recipe: {base})'
    if total == base:
        log(f'{head}; lr {lr} as in the recipe')
        return lr
    if enable:
        scaled = None if lr is None else lr * ratio
        log(f'{head}; lr {lr} -> {scaled:.6g} (linear scaling x{ratio:.4g}; '
            '--no-auto-scale-lr keeps the config\'s lr)')
        return scaled
    log(f'{head}; lr {lr} kept (--no-auto-scale-lr): {ratio:.4g}x the recipe\'s batch at the '
        'same lr, i.e. another learning rate per sample than the recipe\'s')
    return lr
