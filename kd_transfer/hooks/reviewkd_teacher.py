"""The teacher side of :class:`~kd_transfer.hooks.reviewkd_hook.ReviewKDHook`: building the
teacher from its config and checkpoint, running a model only up to the module whose features
are distilled, and converting the student's inputs to the teacher's normalisation."""
import copy
import os.path as osp
from typing import Any, Dict, List, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, DefaultScope
from torch import Tensor, nn

from ..safe_load import load_checkpoint_file
from .finite_loss import nonfinite_tensors


class _StopForward(Exception):
    """Raised by a forward hook to stop a model right after the module of interest."""


def _as_feature_list(output: Any, where: str) -> List[Tensor]:
    """Turn a module output (a tensor or a sequence of tensors) into a list of 4-D maps."""
    feats = [output] if isinstance(output, Tensor) else output
    if not isinstance(feats, (list, tuple)) or not all(isinstance(f, Tensor) for f in feats):
        raise TypeError(f'ReviewKDHook: {where} must output a tensor or a tuple of tensors, '
                        f'got {type(output).__name__}')
    feats = list(feats)
    for i, f in enumerate(feats):
        if f.dim() != 4:
            raise ValueError(f'ReviewKDHook: {where} level {i} has shape {tuple(f.shape)}; '
                             'expected B x C x H x W feature maps')
    return feats


def get_submodule(model: nn.Module, path: str, who: str) -> nn.Module:
    """``model.get_submodule(path)`` with an error naming the path and what exists.

    Args:
        model (nn.Module): the detector / segmenter.
        path (str): dotted module path, e.g. ``'neck'`` or ``'backbone.layer4'``.
        who (str): ``'student'`` or ``'teacher'``, for the error message.

    Returns:
        nn.Module: the submodule.
    """
    try:
        return model.get_submodule(path)
    except AttributeError:
        children = [name for name, _ in model.named_children()]
        raise ValueError(f'ReviewKDHook: the {who} ({type(model).__name__}) has no module '
                         f'{path!r}; its top-level modules are {children}') from None


def extract_until(model: nn.Module, path: str, inputs: Tensor) -> List[Tensor]:
    """Run ``model.extract_feat(inputs)`` only until the module at ``path`` has run.

    A forward hook on that module records its output and stops the forward, so for
    ``path='backbone'`` the neck is skipped and heads never run (``extract_feat`` of mmdet
    detectors and mmseg segmentors is backbone (+ neck)).

    Args:
        model (nn.Module): a model with ``extract_feat`` (mmdet detectors, mmseg segmentors).
        path (str): dotted path of the module whose output is wanted.
        inputs (Tensor): N x C x H x W normalised batch.

    Returns:
        list[Tensor]: the module's output as a list of feature maps (shallow -> deep).
    """
    if not hasattr(model, 'extract_feat'):
        raise TypeError(f'ReviewKDHook: {type(model).__name__} has no extract_feat(); '
                        'expected an mmdet detector or an mmseg segmentor')
    captured: Dict[str, Any] = {}

    def stop(module, args, output):
        captured['out'] = output
        raise _StopForward

    handle = get_submodule(model, path, type(model).__name__).register_forward_hook(stop)
    try:
        model.extract_feat(inputs)
    except _StopForward:
        pass
    finally:
        handle.remove()
    if 'out' not in captured:
        raise RuntimeError(f'ReviewKDHook: {type(model).__name__}.extract_feat() does not run '
                           f'{path!r}; choose a module inside the backbone or the neck')
    return _as_feature_list(captured['out'], f'{type(model).__name__}.{path}')


def _normalisation(preprocessor: nn.Module, channels: int, device) -> Tuple[Tensor, Tensor, bool]:
    """Mean, std (C x 1 x 1) and channel flip of an mmengine / mmdet / mmseg preprocessor."""
    flip = bool(getattr(preprocessor, '_channel_conversion',
                        getattr(preprocessor, 'channel_conversion', False)))
    if getattr(preprocessor, '_enable_normalize', False):
        mean = preprocessor.mean.detach().to(device, torch.float32).view(-1, 1, 1)
        std = preprocessor.std.detach().to(device, torch.float32).view(-1, 1, 1)
    else:
        mean = torch.zeros(channels, 1, 1, device=device)
        std = torch.ones(channels, 1, 1, device=device)
    return mean, std, flip


class InputConverter:
    """Re-normalise the student's preprocessed batch for the teacher.

    The student's data preprocessor produced ``xs = (raw[perm_s] - mean_s) / std_s`` (padded,
    batch-augmented); the teacher expects ``xt = (raw[perm_t] - mean_t) / std_t``. Working
    from ``xs`` instead of re-running the teacher's preprocessor on the raw batch keeps
    the geometry (resize, flip, padding, batch augments) identical for both models, which the
    per-location HCL needs, and costs one fused multiply-add. Only padded pixels differ from
    a separate preprocessing: they hold the student's pad value mapped to the teacher's
    normalisation (identical when both normalise alike).

    Args:
        student_pre (nn.Module): the student's data preprocessor.
        teacher_pre (nn.Module): the teacher's data preprocessor.
        channels (int): image channels.
        device: where the batch lives.
    """

    def __init__(self, student_pre: nn.Module, teacher_pre: nn.Module, channels: int,
                 device) -> None:
        mean_s, std_s, flip_s = _normalisation(student_pre, channels, device)
        mean_t, std_t, flip_t = _normalisation(teacher_pre, channels, device)
        self.flip = flip_s != flip_t
        if self.flip:  # raw channel order differs: express the student's stats in teacher order
            mean_s, std_s = mean_s.flip(0), std_s.flip(0)
        self.scale = std_s / std_t
        self.shift = (mean_s - mean_t) / std_t
        self.identity = (not self.flip and torch.allclose(self.scale, torch.ones_like(self.scale))
                         and torch.allclose(self.shift, torch.zeros_like(self.shift)))

    def __call__(self, inputs: Tensor) -> Tensor:
        """Map a student batch (N x C x H x W) to the teacher's normalisation."""
        if self.identity:
            return inputs
        x = inputs.flip(1) if self.flip else inputs
        return torch.addcmul(self.shift.to(x.dtype), x, self.scale.to(x.dtype))


def resolve_config(path: str) -> str:
    """Path of a config given as a file or as ``'mmdet::rel/path.py'``."""
    if '::' in path:
        try:
            resolved, _ = Config._get_cfg_path(path, '')
        except (ModuleNotFoundError, FileNotFoundError, ValueError) as err:
            raise FileNotFoundError(f'ReviewKDHook: teacher_config {path!r} cannot be found '
                                    f'({err})') from None
        return resolved
    if not osp.isfile(path):
        raise FileNotFoundError(f'ReviewKDHook: teacher_config {path!r} does not exist '
                                "(expected a config file or 'mmdet::...' / 'mmseg::...')")
    return path


def build_teacher(config: str, checkpoint: str, used_paths: Sequence[str],
                  device) -> nn.Module:
    """Build a frozen teacher in eval mode from its config and a weights_only checkpoint.

    Args:
        config (str): config file or ``'mmdet::...'`` / ``'mmseg::...'``.
        checkpoint (str): checkpoint file (mmengine format with ``state_dict`` or a bare
            state dict).
        used_paths (Sequence[str]): module paths the hook reads; the top-level modules that
            ``extract_feat`` runs to reach them (backbone, neck) are kept and must be in the
            checkpoint, every other top-level module (the heads) is removed.
        device: where the student lives.

    Returns:
        nn.Module: the teacher (without heads) in eval mode; ``requires_grad`` is False.
    """
    cfg_path = resolve_config(config)
    if not isinstance(checkpoint, str) or not osp.isfile(checkpoint):
        raise FileNotFoundError(f'ReviewKDHook: teacher_checkpoint {checkpoint!r} does not exist '
                                '(expected the teacher\'s checkpoint file; set it with '
                                '--cfg-options custom_hooks.0.teacher_checkpoint=PATH)')
    cfg = Config.fromfile(cfg_path)
    if 'model' not in cfg:
        raise ValueError(f'ReviewKDHook: teacher_config {config!r} has no `model`')
    scope = cfg.get('default_scope') or (config.split('::')[0] if '::' in config else None)
    model_cfg = copy.deepcopy(cfg.model)
    if 'data_preprocessor' not in model_cfg and 'data_preprocessor' in cfg:
        model_cfg['data_preprocessor'] = cfg.data_preprocessor
    with DefaultScope.overwrite_default_scope(scope):
        teacher = MODELS.build(model_cfg)
    teacher = revert_sync_batchnorm(teacher)  # eval-only: plain BN, no collectives
    # Only the backbone (+ neck) ever run: drop the heads (memory, and a guarantee that
    # they are never called). Their weights, and their shapes, do not matter.
    keep = _prefixes(used_paths)
    for name, _ in list(teacher.named_children()):
        if name not in keep and name != 'data_preprocessor':
            setattr(teacher, name, None)

    ckpt = load_checkpoint_file(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f'ReviewKDHook: teacher_checkpoint {checkpoint!r} holds no state dict')
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    used = {k: v for k, v in state.items() if k.split('.')[0] in keep}
    try:
        missing, unexpected = teacher.load_state_dict(used, strict=False)
    except RuntimeError as err:
        raise RuntimeError(f'ReviewKDHook: teacher_checkpoint {checkpoint!r} does not fit '
                           f'{config!r}: {err}') from None
    bad = nonfinite_tensors(used)
    if bad:
        raise ValueError(f'ReviewKDHook: teacher_checkpoint {checkpoint!r} holds NaN/Inf weights '
                         f'in {len(bad)} tensor(s), e.g. {bad[:3]}; use another teacher '
                         'checkpoint')
    if missing or unexpected:
        raise ValueError(f'ReviewKDHook: teacher_checkpoint {checkpoint!r} does not match the '
                       f'{"/".join(keep)} of {config!r}: {len(missing)} missing keys '
                       f'{missing[:5]}, {len(unexpected)} unexpected keys {unexpected[:5]}')
    print_log(f'ReviewKDHook: loaded {len(used)} teacher tensors ({"/".join(keep)}) from '
              f'{checkpoint}; {len(state) - len(used)} head tensors left out', logger='current')
    teacher.to(device).eval().requires_grad_(False)
    return teacher


def _prefixes(paths: Sequence[str]) -> List[str]:
    """Module paths that ``extract_until`` runs for the given targets (backbone and neck)."""
    out = []
    for p in paths:
        top = p.split('.')[0]
        out += ['backbone'] if top == 'backbone' else ['backbone', top]
    return sorted(set(out))
