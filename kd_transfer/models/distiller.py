"""Classification distiller: a trainable student, a frozen teacher, and distillation losses."""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.registry import MODELS

from ..hooks.finite_loss import all_finite, nonfinite_tensors, teacher_fault
from ..safe_load import load_checkpoint_file
from .batch_input import same_normalisation
from .classifier import attach_predictions, gt_labels
from .teacher_format import teacher_input

_PREFIXES = ('student.backbone.', 'backbone.', 'module.')


def _teacher_state_dict(path: str, model: nn.Module) -> Dict[str, torch.Tensor]:
    """Read a teacher's weights from a kd_transfer, mmengine or plain (torchvision) checkpoint.

    The result has the keys of ``model`` (a :class:`KDClassifier`): ``backbone.<arch keys>``.
    """
    ckpt = load_checkpoint_file(path, map_location='cpu')
    state = ckpt.get('state_dict', ckpt.get('model', ckpt)) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state:
        raise ValueError(f'teacher checkpoint {path!r}: expected a state_dict (or a dict with '
                         f"'state_dict'), got {type(state).__name__}")
    for prefix in _PREFIXES:
        if any(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            break
    return {f'backbone.{k}': v for k, v in state.items()}


def load_teacher_weights(model: nn.Module, path: str) -> None:
    """Strictly load ``path`` into ``model``; on any mismatch raise an error listing it."""
    state = _teacher_state_dict(path, model)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mis_shaped = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or mis_shaped:
        def few(keys: List[str]) -> str:
            return ', '.join(keys[:5]) + (f' ... (+{len(keys) - 5})' if len(keys) > 5 else '')
        raise ValueError(
            f'teacher checkpoint {path!r} does not match the teacher architecture '
            f'{type(model.backbone).__name__}: {len(missing)} missing [{few(missing)}], '
            f'{len(unexpected)} unexpected [{few(unexpected)}], {len(mis_shaped)} mis-shaped '
            f'[{few([f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in mis_shaped])}]')
    bad = nonfinite_tensors(state)
    if bad:
        raise ValueError(f'teacher checkpoint {path!r} holds NaN/Inf weights in {len(bad)} '
                         f'tensor(s), e.g. {bad[:3]}: a diverged or corrupt teacher would make '
                         'every distillation loss non-finite; use another teacher checkpoint')
    model.load_state_dict(state, strict=True)


def _shapes(feats: dict) -> dict:
    """Replace tensors of a feature dict by shape tuples without the batch dimension."""
    out = {}
    for key, value in feats.items():
        if isinstance(value, torch.Tensor):
            out[key] = tuple(value.shape[1:])
        elif isinstance(value, (list, tuple)):
            out[key] = [tuple(v.shape[1:]) for v in value]
    return out


@MODELS.register_module()
class Distiller(BaseModel):
    """Trains ``student`` from a frozen ``teacher`` with one or more distillation losses.

    The teacher is built from its own config (with its own ``data_preprocessor``: mean, std and
    channel order may differ from the student's), loaded from ``teacher_checkpoint`` with
    ``weights_only=True``, and frozen: eval mode forever, ``requires_grad=False``, run under
    ``torch.no_grad`` so its BN statistics never move.  The losses' connectors (FitNets
    regressor, ReviewKD ABF chain) are submodules of this model, so the optimizer updates them,
    DDP averages their gradients and the training checkpoint stores them; the exported student
    (``student.backbone.*``) contains none of them.

    Args:
        student (dict): :class:`KDClassifier` config of the student.
        teacher (dict): :class:`KDClassifier` config of the teacher.
        teacher_checkpoint (str, optional): Teacher weights (kd_transfer / mmengine checkpoint or a
            plain state_dict, e.g. torchvision's). ``None`` only for tests and benchmarks.
        distill_losses (list[dict]): Configs of :mod:`kd_transfer.distill` losses.
        ce_weight (float): Weight of the student's cross-entropy. Defaults to 1.
        input_size (tuple[int, int]): Size of a training input, used once at construction to
            learn feature shapes for the connectors. Defaults to (32, 32).
        eval_teacher (bool): Also predict with the teacher at validation so its metrics are
            logged beside the student's. Defaults to True.
        data_preprocessor (dict, optional): Moves the raw batch to the device; defaults to
            :class:`~kd_transfer.models.batch_input.InputsToDevice` (images only, non-blocking;
            the data samples stay on the host). Student and teacher normalise with their own
            preprocessors, once for both when they normalise alike (``shared_input``).
        teacher_channels_last (bool, optional): Run the frozen teacher in the channels-last
            memory format (weights converted once, input converted every step). ``None``
            (default): on the CPU only, where oneDNN's convolutions measured ~20 % faster that
            way (resnet56, batch 64); on a GPU the format is left as it is. The features the
            losses read are the same values either way (float rounding aside).
    """

    def __init__(self,
                 student: dict,
                 teacher: dict,
                 distill_losses: Sequence[dict],
                 teacher_checkpoint: Optional[str] = None,
                 ce_weight: float = 1.0,
                 input_size: Sequence[int] = (32, 32),
                 eval_teacher: bool = True,
                 data_preprocessor: Optional[dict] = None,
                 teacher_channels_last: Optional[bool] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor or dict(type='InputsToDevice'),
                         init_cfg=init_cfg)
        from ..distill import build_distill_loss
        self.student = MODELS.build(student)
        self.teacher = MODELS.build(teacher)
        if teacher_checkpoint is not None:
            load_teacher_weights(self.teacher, teacher_checkpoint)
        self.teacher_checkpoint = teacher_checkpoint
        self.teacher.requires_grad_(False)
        self.teacher.eval()
        self.ce_weight = ce_weight
        self.eval_teacher = eval_teacher
        self.teacher_channels_last = teacher_channels_last
        if not distill_losses:
            raise ValueError('Distiller needs at least one entry in distill_losses '
                             '(a plain student is a KDClassifier)')
        self.distill_losses = nn.ModuleList(build_distill_loss(cfg) for cfg in distill_losses)
        self.teacher_keys = sorted({k for loss in self.distill_losses for k in loss.teacher_keys})
        # the same normalisation for both (the usual case): the uint8 batch is normalised once
        self.shared_input = same_normalisation(self.student.data_preprocessor,
                                               self.teacher.data_preprocessor)
        self._setup_connectors(tuple(input_size))

    def init_weights(self) -> None:
        """Initialise the student and connectors; the teacher keeps its loaded weights."""
        teacher_state = {k: v.clone() for k, v in self.teacher.state_dict().items()}
        super().init_weights()
        self.teacher.load_state_dict(teacher_state)

    @torch.no_grad()
    def _setup_connectors(self, input_size: tuple) -> None:
        """Learn the feature shapes once (eval mode, no grad) and let each loss build connectors."""
        was_training = self.student.training
        self.student.eval()
        dummy = torch.zeros(1, 3, *input_size)
        s_shapes = _shapes(self.student.backbone.forward_features(dummy))
        t_shapes = _shapes(self.teacher.backbone.forward_features(dummy))
        self.student.train(was_training)
        for loss in self.distill_losses:
            loss.setup(s_shapes, t_shapes)

    def nonfinite_teacher(self) -> Optional[str]:
        """Why the teacher is at fault for a non-finite loss, or None (FiniteLossHook)."""
        return teacher_fault(getattr(self, '_teacher_finite', None), self.teacher,
                             self.teacher_checkpoint,
                             'the teacher outputs are non-finite (NaN/Inf) in the last batch, '
                             'so every distillation term is')

    def train(self, mode: bool = True) -> 'Distiller':
        """Switch student and connectors; the teacher stays in eval mode."""
        super().train(mode)
        self.teacher.eval()
        return self

    @staticmethod
    def _epoch() -> int:
        """1-based current epoch (what warm-ups use), from mmengine's message hub."""
        return int(MessageHub.get_current_instance().get_info('epoch', 0)) + 1

    def _preprocess(self, model: nn.Module, inputs, data_samples, training: bool) -> torch.Tensor:
        """Normalise ``inputs`` with ``model``'s own preprocessor.

        Only the images go through it: the data samples stay on the host (the labels are moved
        as one tensor), casting them per sample costs ~10% of a CIFAR step (measured by
        tools/benchmarks/cls_distill_speed.py).
        """
        return model.data_preprocessor(dict(inputs=inputs, data_samples=None), training)['inputs']

    def _teacher_input(self, inputs: torch.Tensor) -> torch.Tensor:
        """``inputs`` in the teacher's memory format (``teacher_channels_last``)."""
        return teacher_input(self.teacher, inputs, self.teacher_channels_last)

    def forward(self, inputs, data_samples: Optional[list] = None, mode: str = 'tensor'):
        """``inputs`` are the raw (uint8) images: each model applies its own preprocessing."""
        s_inputs = self._preprocess(self.student, inputs, data_samples, mode == 'loss')
        if mode == 'tensor':
            return self.student.backbone(s_inputs)
        if mode == 'predict':
            samples = attach_predictions(self.student.backbone(s_inputs), data_samples)
            if self.eval_teacher:
                with torch.no_grad():
                    t_inputs = s_inputs if self.shared_input else \
                        self._preprocess(self.teacher, inputs, data_samples, False)
                    attach_predictions(self.teacher.backbone(self._teacher_input(t_inputs)),
                                       samples,
                                       field='teacher_pred_score')
            return samples
        if mode != 'loss':
            raise ValueError(f"mode must be 'tensor', 'loss' or 'predict', got {mode!r}")
        return self.loss(s_inputs, inputs, data_samples)

    def loss(self, s_inputs: torch.Tensor, raw_inputs, data_samples: list) -> Dict[str, torch.Tensor]:
        """Student cross-entropy plus every distillation loss."""
        # teacher first: running it while the student's autograd graph is alive measured ~10%
        # slower on CPU (cache pressure; tools/benchmarks/cls_distill_speed.py)
        with torch.no_grad():
            t_inputs = s_inputs if self.shared_input else \
                self._preprocess(self.teacher, raw_inputs, data_samples, False)
            teacher = self.teacher.backbone.forward_features(self._teacher_input(t_inputs))
        # keep only what the losses read: the other teacher features would stay alive (and
        # hold memory) through the student's forward and backward
        teacher = {k: teacher[k] for k in self.teacher_keys}
        student = self.student.backbone.forward_features(s_inputs)
        self._teacher_finite = all_finite(teacher)  # read by FiniteLossHook on a NaN loss
        labels = gt_labels(data_samples, student['logits'].device)
        losses: Dict[str, torch.Tensor] = {}
        if self.ce_weight:
            losses['loss_ce'] = self.ce_weight * F.cross_entropy(student['logits'], labels)
        epoch = self._epoch()
        for loss in self.distill_losses:
            terms = loss(student, teacher, labels, epoch,
                         student_classifier=self.student.classifier,
                         teacher_classifier=self.teacher.classifier)
            clash = set(terms) & set(losses)
            if clash:
                raise KeyError(f'{type(loss).__name__} returns {sorted(clash)}, already produced '
                               'by another loss of this Distiller; give each term its own name')
            losses.update(terms)
        return losses
