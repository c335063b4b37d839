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
from contextlib import nullcontext
from typing import Any, List, Optional, Tuple

import torch
import torch.distributed as torch_dist
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.registry import HOOKS
from mmengine.runner.checkpoint import weights_to_cpu
from torch import Tensor, nn

from ..distill.reviewkd import ABFChain, hcl_loss
from ..models.teacher_format import teacher_input
from .finite_loss import all_finite, teacher_fault
from .reviewkd_teacher import (InputConverter, _as_feature_list, build_teacher, extract_until,
                               get_submodule)

CKPT_KEY = 'reviewkd_abf'


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
        teacher_channels_last (bool, optional): run the teacher in the channels-last memory
            format; ``None`` (default): on the CPU only (R-50 + FPN forward ~14 % faster there;
            :mod:`kd_transfer.models.teacher_format`).
    """

    priority = 'NORMAL'
    #: the method name of runs that use this hook (the report's ``method`` column)
    distill_method = 'reviewkd-det'

    def __init__(self, teacher_config: str, teacher_checkpoint: str,
                 student_features: str = 'neck', teacher_features: str = 'neck',
                 loss_weight: float = 1.0, warmup_iters: int = 0, mid_channels: int = 256,
                 priority: Any = 'NORMAL', probe_size: int = 64,
                 teacher_channels_last: Optional[bool] = None) -> None:
        self.priority = priority
        self.teacher_channels_last = teacher_channels_last
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
        x = teacher_input(self.teacher, self.converter(inputs), self.teacher_channels_last)
        return extract_until(self.teacher, self.teacher_features, x)

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
