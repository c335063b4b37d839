"""The learning rate at the user's real total batch (linear scaling from the recipe's batch).

Every shipped config names the total batch its learning rate was published for
(``auto_scale_lr.base_batch_size``: 64 for CIFAR-100, 256 for ImageNet, 16 for the mmdet / mmseg
recipes) and turns mmengine's linear scaling on (``enable=True``), so a run on fewer or more GPUs
than the recipe's trains with the recipe's learning rate *per sample*. :func:`apply_lr_policy`
(called by ``tools/train.py``) prints the effective batch and learning rate, applies the
command-line choice and refuses a config whose scaling is off when its batch differs from the
recipe's, unless the user keeps the learning rate on purpose.
"""
from typing import Optional

from mmengine.config import Config


class BatchLrError(ValueError):
    """Scaling is off and the total batch differs from the recipe's."""


def world_size() -> int:
    """Processes of this run (1 without a process group)."""
    import torch.distributed as dist
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def apply_lr_policy(cfg: Config, choice: Optional[bool] = None, log=print) -> Optional[float]:
    """Decide the learning rate for this run's total batch and say what was decided.

    Args:
        cfg (Config): The run's config; ``cfg.auto_scale_lr.enable`` is set in place.
        choice (bool, optional): ``True`` (``--auto-scale-lr``) scale; ``False``
            (``--no-auto-scale-lr``) keep the config's lr whatever the batch; ``None``: the
            config's ``auto_scale_lr.enable``.
        log (callable): Where the one-line summary goes.

    Returns:
        float | None: The effective base learning rate (``None`` when the config has none).

    Raises:
        BatchLrError: Scaling is off by config (not by ``--no-auto-scale-lr``) and the total
            batch differs from ``auto_scale_lr.base_batch_size``.
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
    if base is None:
        if choice:
            raise KeyError('--auto-scale-lr: the config has no auto_scale_lr.base_batch_size '
                           '(the total batch its learning rate was set for)')
        log(f'[kd_transfer] total batch {world_size()} x {per_process} = {total}; lr {lr} as in '
            'the config (it names no recipe batch: auto_scale_lr.base_batch_size)')
        return lr
    enable = bool(auto.get('enable', False)) if choice is None else bool(choice)
    cfg.auto_scale_lr = dict(auto, enable=enable)
    ratio = total / float(base)
    head = f'[kd_transfer] total batch {world_size()} x {per_process} = {total} (recipe: {base})'
    if total == base:
        log(f'{head}; lr {lr} as in the recipe')
        return lr
    if enable:
        scaled = None if lr is None else lr * ratio
        log(f'{head}; lr {lr} -> {scaled:.6g} (linear scaling x{ratio:.4g}; '
            '--no-auto-scale-lr keeps the config\'s lr)')
        return scaled
    if choice is False:
        log(f'{head}; lr {lr} kept (--no-auto-scale-lr): {ratio:.4g}x the recipe\'s batch at the '
            'same lr, i.e. a different learning rate per sample than the recipe')
        return lr
    raise BatchLrError(
        f'total batch {world_size()} x {per_process} = {total} differs from the recipe\'s '
        f'{base} (auto_scale_lr.base_batch_size) and auto_scale_lr.enable is False: lr {lr} '
        f'would be {1 / ratio:.4g}x the recipe\'s learning rate per sample. Pass '
        f'--auto-scale-lr to use lr {lr * ratio:.6g}, or --no-auto-scale-lr to keep {lr} on '
        'purpose.')
