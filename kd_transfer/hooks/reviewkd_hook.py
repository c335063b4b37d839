"""ReviewKD for mmdet / mmseg training as an MMEngine hook.

One entry in ``custom_hooks`` distils an ordinary detector or segmenter from a teacher::

    custom_hooks = [dict(type='ReviewKDHook',
                         teacher_config='mmdet::faster_rcnn/faster-rcnn_r101_fpn_1x_coco.py',
                         teacher_checkpoint='checkpoints/faster_rcnn_r101_fpn_1x_coco.pth',
                         student_features='neck', teacher_features='neck', loss_weight=1.2)]

How it fits into mmengine's Runner (0.10.x), which builds and DDP-wraps the student in
``Runner.__init__``, before any hook runs:

* ``before_run`` (training only: called after the optimizer and the parameter schedulers are
  built, before the weights are initialised and before ``resume``):

  - builds the teacher from its config (``'mmdet::...'`` / ``'mmseg::...'`` or a file) in its
    own registry scope, keeps only what ``extract_feat`` needs (backbone, neck; the heads are
    dropped), loads those weights with ``weights_only=True``, moves it to the student's
    device, puts it in eval mode and freezes it. The teacher is *not* a submodule of the
    runner's model, so ``model.train()`` never reaches it, and the checkpoint's
    ``state_dict`` never contains it;
  - probes both models with one dummy input to read the channels and the number of feature
    levels at ``student_features`` / ``teacher_features``; a different number of levels is an
    error listing both;
  - builds the :class:`~kd_transfer.distill.reviewkd.ABFChain`; when distributed it gets its
    OWN ``DistributedDataParallel`` on a separate process group, so its gradients are averaged
    across ranks like the detector's without ``find_unused_parameters`` and without its
    all-reduces interleaving with the detector's (its BN statistics are broadcast from rank
    0 at each forward, DDP's default);
  - adds the ABF parameters to the runner's optimizer as one more param group (the default
    group's hyper-parameters, at the current point of the LR schedule) and appends the group's
    base value to every parameter scheduler, so warm-up / step / poly schedules drive it too.
    Because this happens before ``load_or_resume``, ``resume`` restores the optimizer state of
    the ABF group (momentum buffers) like any other group;
  - prepares a wrapped ``loss`` for the student, which replaces the student's own (an
    instance attribute; the class is untouched) only *during* each training iteration: the
    train loop's ``run_iter`` (of this runner's loop object) is wrapped in ``try`` /
    ``finally``, so the student gets its own ``loss`` back after every iteration, also when
    the iteration raises (a NaN loss, a data error, an interrupt). mmengine 0.10 hooks have
    no ``on_exception``: a failing run never reaches ``after_run``.

* the wrapped ``loss`` (training mode only) runs the original loss while a temporary forward
  hook captures the student's features, runs the teacher's modules up to
  ``teacher_features`` only (``extract_feat`` stopped right after that module: never the
  heads) under ``no_grad`` on the same batch, converted to the teacher's own normalisation
  (mean / std / channel order), and adds
  ``loss_reviewkd = loss_weight * min((iter + 1) / warmup_iters, 1) * HCL(ABF(student), teacher)``.
  ``predict`` / ``tensor`` modes are untouched: the distilled model costs the same at inference.

* ``before_save_checkpoint`` stores the ABF weights under ``checkpoint['reviewkd_abf']``;
  ``after_load_checkpoint`` (called by ``resume`` and ``load_from``) restores them.
* ``after_run`` unwraps the loop's ``run_iter`` and releases the teacher.
"""
import copy
import os.path as osp
from contextlib import nullcontext
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper, revert_sync_batchnorm
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.registry import HOOKS, MODELS, DefaultScope
from mmengine.runner.checkpoint import weights_to_cpu
from torch import Tensor, nn

from ..distill.reviewkd import ABFChain, hcl_loss
from .finite_loss import all_finite, nonfinite_tensors, teacher_fault
from ..safe_load import load_checkpoint_file

CKPT_KEY = 'reviewkd_abf'


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


@HOOKS.register_module()
class ReviewKDHook(Hook):
    """Distil an mmdet detector / mmseg segmentor with ReviewKD (ABF chain + HCL).

    Args:
        teacher_config (str): the teacher's config (``'mmdet::...'``, ``'mmseg::...'`` or a
            file); the model is built in the config's ``default_scope``.
        teacher_checkpoint (str): the teacher's weights (loaded with ``weights_only=True``).
        student_features (str): dotted module path of the student whose output is distilled
            (``'neck'``: FPN levels; ``'backbone'``: backbone stages).
        teacher_features (str): the same for the teacher.
        loss_weight (float): weight of the HCL sum.
        warmup_iters (int): linear warm-up of the weight over this many iterations
            (0: none); the factor at 0-based iteration ``i`` is ``min((i + 1) / warmup, 1)``.
        mid_channels (int): ABF width (256 for FPN features).
        priority (str | int): hook priority.
        probe_size (int): side of the dummy image used to read channels and levels.
    """

    priority = 'NORMAL'
    #: the method name of runs that use this hook (the report's ``method`` column)
    distill_method = 'reviewkd-det'

    def __init__(self, teacher_config: str, teacher_checkpoint: str,
                 student_features: str = 'neck', teacher_features: str = 'neck',
                 loss_weight: float = 1.0, warmup_iters: int = 0, mid_channels: int = 256,
                 priority: Any = 'NORMAL', probe_size: int = 64) -> None:
        self.priority = priority
        self.teacher_config = teacher_config
        self.teacher_checkpoint = teacher_checkpoint
        self.student_features = student_features
        self.teacher_features = teacher_features
        self.loss_weight = float(loss_weight)
        if warmup_iters < 0:
            raise ValueError(f'ReviewKDHook: warmup_iters must be >= 0, got {warmup_iters}')
        self.warmup_iters = int(warmup_iters)
        self.mid_channels = int(mid_channels)
        self.probe_size = int(probe_size)

        self.teacher: Optional[nn.Module] = None
        self.abf: Optional[ABFChain] = None       # the module whose state is saved
        self.abf_forward: Optional[nn.Module] = None  # abf, or its DDP wrapper
        self.student: Optional[nn.Module] = None
        self.converter: Optional[InputConverter] = None
        self._optim_wrapper: Optional[OptimWrapper] = None
        self._iter = 0
        self._orig_loss_attr = None  # an instance-level `loss` that existed before us
        self._loss_fn = None  # the wrapped loss, installed only inside a training iteration
        self._loop = None  # the train loop whose run_iter is wrapped

    # ------------------------------------------------------------------ set-up
    def before_run(self, runner) -> None:
        """Build teacher and ABF chain, extend the optimizer and wrap the student's loss."""
        optim_wrapper = runner.optim_wrapper
        if not isinstance(optim_wrapper, OptimWrapper):
            return  # val / test run: nothing to distil, the student predicts alone
        if isinstance(optim_wrapper, OptimWrapperDict):
            raise TypeError('ReviewKDHook supports a single OptimWrapper, got an '
                            'OptimWrapperDict')
        student = runner.model.module if is_model_wrapper(runner.model) else runner.model
        device = next(student.parameters()).device
        paths = [self.teacher_features]
        self.teacher = build_teacher(self.teacher_config, self.teacher_checkpoint, paths, device)
        self.student = student

        s_shapes, t_shapes = self._probe(student, self.teacher, device)
        if len(s_shapes) != len(t_shapes):
            raise ValueError(
                f'ReviewKDHook: the student\'s {self.student_features!r} gives {len(s_shapes)} '
                f'feature levels with channels {[s[0] for s in s_shapes]} but the teacher\'s '
                f'{self.teacher_features!r} gives {len(t_shapes)} levels with channels '
                f'{[s[0] for s in t_shapes]} (shapes C x H x W for a {self.probe_size} px '
                f'probe: student {s_shapes}, teacher {t_shapes}); choose student_features / '
                'teacher_features with the same number of levels')
        self.converter = InputConverter(student.data_preprocessor, self.teacher.data_preprocessor,
                                        3, device)

        self.abf = ABFChain([s[0] for s in s_shapes], [t[0] for t in t_shapes],
                            self.mid_channels).to(device)
        self.abf_forward = self.abf
        if runner.distributed:
            # Its own process group: the ABF all-reduces never interleave with the detector's
            # buckets, whatever order the backward pass makes them ready in on each rank.
            group = torch_dist.new_group()
            self.abf_forward = nn.parallel.DistributedDataParallel(
                self.abf, device_ids=[device.index] if device.type == 'cuda' else None,
                process_group=group, broadcast_buffers=True)
        self._optim_wrapper = optim_wrapper
        group = self._add_param_group(runner, optim_wrapper, list(self.abf.parameters()))
        n_abf = sum(p.numel() for p in self.abf.parameters())
        runner.logger.info(
            f'ReviewKDHook: teacher {self.teacher_config} ({self.teacher_features}: channels '
            f'{[t[0] for t in t_shapes]}), student {self.student_features}: channels '
            f'{[s[0] for s in s_shapes]}; ABF chain with {n_abf} '
            f'parameters in optimizer group {len(optim_wrapper.param_groups) - 1} '
            f'(lr {group["lr"]:.3g}); loss_weight {self.loss_weight}, warmup_iters '
            f'{self.warmup_iters}')
        self._wrap_loss(student)
        self._scope_to_iterations(runner.train_loop)

    def _probe(self, student: nn.Module, teacher: nn.Module,
               device) -> Tuple[List[tuple], List[tuple]]:
        """C x H x W of each feature level of both models for one dummy image."""
        x = torch.zeros(1, 3, self.probe_size, self.probe_size, device=device)
        modes = {m: m.training for m in student.modules()}
        student.eval()
        try:
            with torch.no_grad():
                get_submodule(student, self.student_features, 'student')
                s_feats = extract_until(student, self.student_features, x)
                get_submodule(teacher, self.teacher_features, 'teacher')
                t_feats = extract_until(teacher, self.teacher_features, x)
        finally:
            for m, mode in modes.items():
                m.training = mode
        return [tuple(f.shape[1:]) for f in s_feats], [tuple(f.shape[1:]) for f in t_feats]

    @staticmethod
    def _add_param_group(runner, optim_wrapper: OptimWrapper, params: List[nn.Parameter]) -> dict:
        """Add ``params`` as a param group with the default group's settings; extend schedulers.

        The parameter schedulers were built before ``before_run`` and have already applied
        their first step to every group (e.g. LinearLR's start factor). The new group copies
        the first group (its ``lr`` is thus at the same point of the schedule and its
        ``initial_*`` values are the schedule's base values). When the optimizer has several
        groups (``paramwise_cfg``), the first may carry multipliers, so ``lr`` /
        ``weight_decay`` are taken from the optimizer's defaults instead (times the
        ``auto_scale_lr`` factor and the schedule's current factor). Every scheduler keeps
        one ``base_values`` / ``_last_value`` entry per group: they get one for the new group.
        """
        optimizer = optim_wrapper.optimizer
        ref = optimizer.param_groups[0]
        group = {k: copy.deepcopy(v) for k, v in ref.items() if k != 'params'}
        if len(optimizer.param_groups) > 1:
            scale = 1.0
            auto = runner.auto_scale_lr
            if auto and auto.get('enable', False):
                scale = runner.world_size * runner.train_dataloader.batch_size / \
                    auto['base_batch_size']
            for key in ('lr', 'weight_decay'):
                if key not in optimizer.defaults:
                    continue
                base = optimizer.defaults[key] * (scale if key == 'lr' else 1.0)
                init = ref.get(f'initial_{key}')
                group[key] = base * ref[key] / init if init else base
                if init is not None:
                    group[f'initial_{key}'] = base
        group['params'] = params
        optimizer.add_param_group(group)
        new = optimizer.param_groups[-1]

        schedulers = runner.param_schedulers or []
        if isinstance(schedulers, dict):
            schedulers = [s for v in schedulers.values() for s in v]
        for scheduler in schedulers:
            name = scheduler.param_name
            scheduler.base_values.append(new.get(f'initial_{name}', new[name]))
            if hasattr(scheduler, '_last_value'):
                scheduler._last_value.append(new[name])
        return new

    # ------------------------------------------------------------------ loss
    def _wrap_loss(self, student: nn.Module) -> None:
        """Build the wrapped loss (installed by :meth:`install_loss`, not here)."""
        original = student.loss
        hook = self

        def loss(inputs: Tensor, data_samples, *args, **kwargs):
            return hook._loss(original, inputs, data_samples, *args, **kwargs)

        loss.__doc__ = f'{type(student).__name__}.loss plus loss_reviewkd (ReviewKDHook).'
        loss._reviewkd_hook = self
        self._loss_fn = loss

    def install_loss(self) -> None:
        """Give the student the wrapped ``loss`` (idempotent)."""
        student = self.student
        if student is None or self._loss_fn is None or \
                student.__dict__.get('loss') is self._loss_fn:
            return
        self._orig_loss_attr = student.__dict__.get('loss')
        student.loss = self._loss_fn

    def restore_loss(self) -> None:
        """Give the student its own ``loss`` back (idempotent)."""
        student = self.student
        if student is not None and self._loss_fn is not None and \
                student.__dict__.get('loss') is self._loss_fn:
            if self._orig_loss_attr is None:
                del student.loss
            else:
                student.loss = self._orig_loss_attr

    def _scope_to_iterations(self, loop) -> None:
        """Wrap ``loop.run_iter`` (this loop object only): the wrapped loss is installed for
        the iteration and removed in ``finally``, whatever the iteration raises."""
        run_iter = loop.run_iter
        hook = self

        def scoped_run_iter(*args, **kwargs):
            hook.install_loss()
            try:
                return run_iter(*args, **kwargs)
            finally:
                hook.restore_loss()

        scoped_run_iter._reviewkd_hook = self
        loop.run_iter = scoped_run_iter
        self._loop = loop

    def _loss(self, original, inputs: Tensor, data_samples, *args, **kwargs) -> dict:
        """The student's loss dict plus ``loss_reviewkd`` (training mode only)."""
        student = self.student
        if not student.training:
            return original(inputs, data_samples, *args, **kwargs)
        captured: List[Any] = []

        def capture(module, args_, output):
            if not captured:
                captured.append(output)

        # teacher first: run while the student's autograd graph is alive, it measured slower
        # on the CPU (cache pressure; the Distiller does the same)
        with torch.no_grad():
            t_feats = self.teacher_forward(inputs, data_samples)
            self._teacher_finite = all_finite(t_feats)  # read by FiniteLossHook on a NaN loss
        handle = get_submodule(student, self.student_features, 'student').register_forward_hook(
            capture)
        try:
            losses = original(inputs, data_samples, *args, **kwargs)
        finally:
            handle.remove()
        if not captured:
            raise RuntimeError(f'ReviewKDHook: the student\'s {self.student_features!r} did not '
                               'run during loss()')
        s_feats = _as_feature_list(captured[0], f'student {self.student_features}')
        sync = self._optim_wrapper is None or self._optim_wrapper.should_sync()
        no_sync = getattr(self.abf_forward, 'no_sync', None)
        with nullcontext() if sync or no_sync is None else no_sync():
            fused = self.abf_forward(s_feats, [t.shape[-2:] for t in t_feats])
        losses['loss_reviewkd'] = self.current_weight() * hcl_loss(fused, t_feats)
        return losses

    def teacher_forward(self, inputs: Tensor, data_samples) -> List[Tensor]:
        """The teacher's features for the student's batch: backbone (+ neck) only.

        Args:
            inputs (Tensor): the student's preprocessed batch.
            data_samples: the batch's data samples (unused here; subclasses may need them).

        Returns:
            list[Tensor]: teacher features at ``teacher_features``, shallow -> deep.
        """
        return extract_until(self.teacher, self.teacher_features, self.converter(inputs))

    def nonfinite_teacher(self) -> Optional[str]:
        """Why the teacher is at fault for a non-finite loss, or None (FiniteLossHook)."""
        return teacher_fault(getattr(self, '_teacher_finite', None), self.teacher,
                             self.teacher_checkpoint,
                             f'ReviewKDHook: the teacher outputs ({self.teacher_features}) are '
                             'non-finite (NaN/Inf) in the last batch')

    def current_weight(self) -> float:
        """``loss_weight * min((iter + 1) / warmup_iters, 1)`` at the current iteration."""
        if self.warmup_iters <= 0:
            return self.loss_weight
        return self.loss_weight * min((self._iter + 1) / self.warmup_iters, 1.0)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        """Remember the iteration for the warm-up; keep the teacher in eval mode."""
        self._iter = runner.iter
        if self.teacher is not None and self.teacher.training:
            self.teacher.eval()

    # ------------------------------------------------------------------ checkpoints
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Store the ABF chain's state beside the (teacher- and ABF-free) model state."""
        if self.abf is not None:
            checkpoint[CKPT_KEY] = weights_to_cpu(self.abf.state_dict())

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Restore the ABF chain (``resume`` / ``load_from`` of a distillation checkpoint)."""
        if self.abf is None:
            return
        state = checkpoint.get(CKPT_KEY)
        if state is None:
            runner.logger.warning(f'ReviewKDHook: the checkpoint has no {CKPT_KEY!r}; the ABF '
                                  'chain keeps its initial weights')
            return
        self.abf.load_state_dict(state, strict=True)

    def after_run(self, runner) -> None:
        """Unwrap the loop's ``run_iter``, make sure the student has its own ``loss`` and
        release the teacher."""
        self.restore_loss()
        loop = self._loop
        if loop is not None and getattr(loop.__dict__.get('run_iter'), '_reviewkd_hook',
                                        None) is self:
            del loop.run_iter
        self._loop = None
        self.teacher = None
        self.student = None
