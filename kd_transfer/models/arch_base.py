"""The feature contract shared by every kd_transfer architecture.

Every architecture (CIFAR and ImageNet) subclasses :class:`ArchBase` and implements
:meth:`ArchBase.forward_stages`; this module turns the stage outputs into the feature dict
that distillation methods read and into the two ``forward`` modes (classifier / backbone).
"""
import functools
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm
from torchvision.models.resnet import BasicBlock, Bottleneck

Stages = Tuple[List[Tensor], List[Tensor]]


class ArchBase(BaseModule):
    """Base of all architectures: feature dict, logits mode and backbone mode.

    Subclasses build their layers, call :meth:`_setup_contract` at the end of ``__init__``
    and implement :meth:`forward_stages` (plus :meth:`forward_head` when the map that is
    globally pooled is not the last stage output). They expose ``classifier``, the final
    linear layer applied to the pooled feature.

    This class has no ``__init__`` of its own, so that an architecture may also subclass a
    torchvision model (``class TVResNet(ResNet, ArchBase)``): torchvision's ``__init__`` then
    reaches :class:`mmengine.model.BaseModule` through ``super()``.

    Every subclass's ``__init__`` also accepts, as keywords, the two options of mmdet's
    backbones (added by :meth:`__init_subclass__`, applied after the subclass's ``__init__``):

    - ``norm_eval`` (bool, default False): keep every BatchNorm layer in eval mode while
      training (running statistics frozen; the affine parameters still train), as detectors
      trained with 2 images per GPU do;
    - ``frozen_stages`` (int, default -1): -1 freezes nothing, 0 the stem, ``i`` the stem and
      the first ``i`` stages: their parameters get ``requires_grad=False`` and their modules
      stay in eval mode. "Stem + first ``i`` stages" is exactly the set of parameters
      ``stages[i]`` depends on, which one forward / backward pass on a dummy image finds, so
      no architecture has to list its modules per stage.

    Attributes:
        stage_channels (list[int]): Channels of each entry of ``stages`` (stem first).
        feat_channels (int): Channels of ``feat_map`` (= length of ``pooled``).
        num_classes (int): Number of logits.
        out_indices (tuple[int] | None): Stages returned by :meth:`forward` in backbone mode,
            indices into ``stages[1:]`` (the stem is not selectable); ``None`` = logits mode.
            In backbone mode the head (classifier and any layer after the last stage) keeps
            its parameters but is not run and is frozen (``requires_grad=False``).
    """

    stage_channels: List[int]
    feat_channels: int
    num_classes: int
    out_indices: Optional[Tuple[int, ...]]
    norm_eval: bool = False
    frozen_stages: int = -1
    _frozen_modules: Tuple[str, ...] = ()  # names of the modules frozen_stages keeps in eval

    def __init_subclass__(cls, **kwargs):
        """Add the ``norm_eval`` / ``frozen_stages`` keywords to the subclass's ``__init__``."""
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get('__init__')
        if init is None:
            return

        @functools.wraps(init)
        def __init__(self, *args, norm_eval: bool = False, frozen_stages: int = -1, **kw):
            init(self, *args, **kw)
            self._setup_freezing(norm_eval, frozen_stages)

        cls.__init__ = __init__

    def _setup_freezing(self, norm_eval: bool, frozen_stages: int) -> None:
        """Validate and apply ``norm_eval`` / ``frozen_stages`` (see the class docstring).

        Raises:
            ValueError: If ``frozen_stages`` is not an int in ``[-1, number of stages]``.
        """
        num_stages = len(self.stage_channels) - 1
        if not isinstance(frozen_stages, int) or isinstance(frozen_stages, bool) or \
                not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'{type(self).__name__}: frozen_stages must be an int in '
                             f'[-1, {num_stages}] (-1: none, 0: stem, i: stem + first i of the '
                             f'{num_stages} stages), got {frozen_stages!r}')
        self.norm_eval = bool(norm_eval)
        self.frozen_stages = frozen_stages
        self._frozen_modules = ()
        training = self.training
        if frozen_stages >= 0:
            params = {p: n for n, p in self.named_parameters() if p.requires_grad}
            like = next(iter(params))
            self.eval()  # the dummy pass touches no BatchNorm statistics
            with torch.enable_grad():
                x = torch.zeros(1, 3, 64, 64, dtype=like.dtype, device=like.device)
                stage = self.forward_stages(x)[0][frozen_stages]
                grads = torch.autograd.grad(stage.sum(), list(params), allow_unused=True)
            frozen = {params[p] for p, g in zip(params, grads) if g is not None}
            for name, p in self.named_parameters():
                if name in frozen:
                    p.requires_grad_(False)
            self._frozen_modules = tuple(  # modules (containers too) with only frozen params
                name for name, m in self.named_modules()
                if any(True for _ in m.parameters())
                and all(n in frozen for n, _ in m.named_parameters(prefix=name)))
        self.train(training)

    def train(self, mode: bool = True) -> 'ArchBase':
        """Set the training mode, keeping frozen stages (and with ``norm_eval`` every BatchNorm)
        in eval mode, as mmdet's backbones do.

        Args:
            mode (bool): Training (True) or evaluation (False) mode.

        Returns:
            ArchBase: ``self``.
        """
        super().train(mode)
        if mode:
            for name in self._frozen_modules:
                self.get_submodule(name).eval()
            if self.norm_eval:
                for m in self.modules():
                    if isinstance(m, _BatchNorm):
                        m.eval()
        return self

    def _setup_contract(self, stage_channels: Sequence[int], feat_channels: int,
                        num_classes: int, out_indices: Optional[Sequence[int]],
                        head_modules: Sequence[str]) -> None:
        """Record the contract attributes, validate ``out_indices``, freeze the head if unused.

        In backbone mode the modules that only the logits path runs (``head_modules``) keep
        their parameters, so checkpoint keys do not depend on the mode, but get
        ``requires_grad=False``: they receive no gradient, and DDP needs no
        ``find_unused_parameters`` for them.

        Args:
            stage_channels (Sequence[int]): Channels of stem and stages, shallow to deep.
            feat_channels (int): Channels of the globally pooled map.
            num_classes (int): Number of classes of the classifier.
            out_indices (Sequence[int], optional): Backbone-mode outputs (see class doc).
            head_modules (Sequence[str]): Names (for ``get_submodule``) of the modules run only
                after the last stage: the classifier and e.g. a final 1x1 conv.

        Raises:
            ValueError: If ``out_indices`` is empty, not a sequence of ints, or holds an index
                outside ``[0, len(stage_channels) - 1)``.
        """
        self.stage_channels = [int(c) for c in stage_channels]
        self.feat_channels = int(feat_channels)
        self.num_classes = int(num_classes)
        num_stages = len(self.stage_channels) - 1
        if out_indices is not None:
            if isinstance(out_indices, int) or not isinstance(out_indices, Sequence):
                raise ValueError(f'{type(self).__name__}: out_indices must be a sequence of '
                                 f'ints or None, got {out_indices!r}')
            out_indices = tuple(out_indices)
            bad = [i for i in out_indices
                   if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < num_stages]
            if not out_indices or bad:
                raise ValueError(
                    f'{type(self).__name__}: out_indices must be a non-empty sequence of stage '
                    f'indices in [0, {num_stages - 1}] (stem excluded; {num_stages} stages with '
                    f'channels {self.stage_channels[1:]}), got {out_indices!r}')
        self.out_indices = out_indices
        if out_indices is not None:
            for name in head_modules:
                self.get_submodule(name).requires_grad_(False)

    def forward_stages(self, x: Tensor) -> Stages:
        """Run stem and stages.

        Args:
            x (Tensor): Images, B x 3 x H x W.

        Returns:
            tuple[list[Tensor], list[Tensor]]: ``(stages, preact_stages)``, both
            ``[stem, stage1, ..., stageN]``.
        """
        raise NotImplementedError

    def forward_head(self, last_stage: Tensor) -> Tensor:
        """Map the last stage output to the feature map that is globally pooled.

        Args:
            last_stage (Tensor): ``stages[-1]``.

        Returns:
            Tensor: ``feat_map``. Identity unless overridden.
        """
        return last_stage

    def forward_features(self, x: Tensor) -> Dict[str, Union[Tensor, List[Tensor]]]:
        """Compute every feature of the contract.

        Args:
            x (Tensor): Images, B x 3 x H x W (already normalised).

        Returns:
            dict: ``stages`` and ``preact_stages`` (lists, stem first), ``feat_map``
            (B x feat_channels x h x w), ``pooled`` (B x feat_channels, the spatial mean of
            ``feat_map``) and ``logits`` (B x num_classes, ``classifier(pooled)``).
        """
        stages, preact_stages = self.forward_stages(x)
        return self.feature_dict(stages, preact_stages, self.forward_head(stages[-1]))

    def feature_dict(self, stages: List[Tensor], preact_stages: List[Tensor],
                     feat_map: Tensor) -> Dict[str, Union[Tensor, List[Tensor]]]:
        """Pool ``feat_map``, apply the classifier and assemble the feature dict.

        Args:
            stages (list[Tensor]): Stage outputs, stem first.
            preact_stages (list[Tensor]): Their pre-activation counterparts.
            feat_map (Tensor): The map that is globally pooled.

        Returns:
            dict: See :meth:`forward_features`.
        """
        pooled = feat_map.mean(dim=(2, 3))
        logits = self.classifier(pooled)
        return dict(stages=stages, preact_stages=preact_stages, feat_map=feat_map,
                    pooled=pooled, logits=logits)

    def forward(self, x: Tensor) -> Union[Tensor, Tuple[Tensor, ...]]:
        """Logits, or the selected stage outputs in backbone mode.

        Args:
            x (Tensor): Images, B x 3 x H x W.

        Returns:
            Tensor | tuple[Tensor]: B x num_classes logits when ``out_indices`` is None,
            else ``tuple(stages[1 + i] for i in out_indices)`` (the classifier is not run).
        """
        if self.out_indices is None:
            return self.forward_features(x)['logits']
        stages, _ = self.forward_stages(x)
        return tuple(stages[1 + i] for i in self.out_indices)


class LinearHead(nn.Sequential):
    """An ``nn.Sequential`` ending in ``nn.Linear`` that looks like that linear layer.

    Used where an upstream layout stores the classifier as a Sequential (torchvision's
    MobileNetV2: ``classifier.0`` dropout + ``classifier.1`` linear) so the parameter names stay
    upstream's while ``model.classifier.weight`` / ``in_features`` etc. work as for a plain
    ``nn.Linear``.
    """

    def __init__(self, *modules: nn.Module):
        super().__init__(*modules)
        if not isinstance(self[-1], nn.Linear):
            raise TypeError(f'LinearHead must end with nn.Linear, got {type(self[-1]).__name__}')

    @property
    def linear(self) -> nn.Linear:
        """The final ``nn.Linear``."""
        return self[-1]

    @property
    def weight(self) -> nn.Parameter:
        """Weight of the final linear layer (out_features x in_features)."""
        return self[-1].weight

    @property
    def bias(self) -> Optional[nn.Parameter]:
        """Bias of the final linear layer."""
        return self[-1].bias

    @property
    def in_features(self) -> int:
        """Input features of the final linear layer."""
        return self[-1].in_features

    @property
    def out_features(self) -> int:
        """Output features (classes) of the final linear layer."""
        return self[-1].out_features


def resnet_block_preact(block: nn.Module, x: Tensor) -> Tensor:
    """A torchvision ResNet block computed without its final ReLU.

    Uses the block's own submodules, so it works for any ``BasicBlock`` / ``Bottleneck`` with
    torchvision's layout (also the CIFAR ResNets, which reuse torchvision's ``BasicBlock``);
    ``relu(resnet_block_preact(block, x)) == block(x)``.

    Args:
        block (nn.Module): A ``torchvision.models.resnet.BasicBlock`` or ``Bottleneck``.
        x (Tensor): Block input.

    Returns:
        Tensor: Residual sum before the final ReLU.
    """
    identity = x if block.downsample is None else block.downsample(x)
    if isinstance(block, Bottleneck):
        out = block.relu(block.bn1(block.conv1(x)))
        out = block.relu(block.bn2(block.conv2(out)))
        out = block.bn3(block.conv3(out))
    elif isinstance(block, BasicBlock):
        out = block.relu(block.bn1(block.conv1(x)))
        out = block.bn2(block.conv2(out))
    else:
        raise TypeError(
            f'expected a torchvision BasicBlock or Bottleneck, got {type(block).__name__}')
    out += identity  # in place on the BN output, as torchvision's blocks do (one tensor less)
    return out


def run_stage_with_preact(stage: nn.Sequential, x: Tensor, preact_fn) -> Tuple[Tensor, Tensor]:
    """Run a stage whose last block ends in a ReLU; also return that block's pre-activation.

    Args:
        stage (nn.Sequential): The stage's blocks.
        x (Tensor): Stage input.
        preact_fn (Callable[[nn.Module, Tensor], Tensor]): Computes a block's output before its
            final ReLU.

    Returns:
        tuple[Tensor, Tensor]: ``(relu(preact), preact)``.
    """
    blocks = list(stage)
    for block in blocks[:-1]:
        x = block(x)
    preact = preact_fn(blocks[-1], x)
    return torch.relu(preact), preact
