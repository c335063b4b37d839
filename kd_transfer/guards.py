"""Guards against the faults that waste a run: non-finite losses, wrong weights, bad data paths.

* :class:`FiniteLossHook` (root ``HOOKS``) stops training at the first NaN / Inf loss term,
  naming the iteration and the term, before any checkpoint of that iteration is written; it
  also refuses to write a checkpoint whose weights are not finite. Classification configs get
  it from ``configs/_base_/cls/runtime.py``; mmdet / mmseg configs add
  ``custom_hooks = [dict(type='FiniteLossHook')]`` (the root registry is visible from their
  scopes).
* :class:`RandomStateHook` stores the python / numpy / torch random states in every
  checkpoint and restores them on ``--resume``, so an epoch-based run continues bit for bit
  (also in ``configs/_base_/cls/runtime.py``).
* :class:`StrictPretrainedInit` replaces mmengine's ``Pretrained`` initializer (applied by
  :mod:`kd_transfer.patches`) (which loads
  with ``strict=False`` and only *warns* on mismatching keys): a kd_transfer architecture, or
  any module fed an exported kd_transfer backbone, is loaded strictly, and a checkpoint none
  of whose keys fit is refused for every module. Other (upstream) loads behave as before.
  An exported backbone whose recorded normalisation differs from the enclosing model's data
  preprocessor is refused too (``init_cfg.allow_norm_mismatch=True`` opts out).
* :func:`check_datasets`, :func:`check_not_empty` and :func:`refuse_existing_checkpoints`
  are the early checks of ``tools/train.py`` / ``tools/test.py``: missing roots and annotation
  files, malformed VOC XML / COCO JSON entries (``--on-bad-annotation fail|skip``), COCO
  categories that would mislabel, unreadable images, bad segmentation masks, empty
  datasets, and a work dir whose checkpoints a new run would overwrite (docs/data_checks.md).
"""
import glob
import json
import math
import os
import os.path as osp
import random
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit
from mmengine.registry import HOOKS

from .fileio import atomic_write


# ------------------------------------------------------------------------ finite losses
class NonFiniteLossError(FloatingPointError):
    """A loss term (or a weight about to be checkpointed) is NaN or Inf."""


def _last_checkpoint(work_dir: str) -> str:
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer, encoding='utf-8') as f:
            last = f.read().strip()
        if last:
            return f'the last good checkpoint is {last}'
    return 'no checkpoint had been written yet'


def nonfinite_tensors(tensors: Any) -> List[str]:
    """Names of the floating-point tensors holding NaN / Inf in a state dict (or a
    ``{name: tensor}`` / list of tensors: list indices are the names)."""
    items = tensors.items() if isinstance(tensors, dict) else enumerate(tensors or [])
    return [str(k) for k, v in items if isinstance(v, torch.Tensor) and v.is_floating_point()
            and not bool(torch.isfinite(v).all())]


def teacher_fault(flag: Optional[torch.Tensor], teacher: Optional[torch.nn.Module],
                  checkpoint: Any, what: str) -> Optional[str]:
    """Why a teacher is at fault for a non-finite loss (``flag``: :func:`all_finite` of its
    last outputs; ``what`` says which outputs), or None when they were finite or unknown."""
    if flag is None or bool(flag) or teacher is None:
        return None
    weights = nonfinite_tensors(teacher.state_dict())
    return (f'{what}: check the teacher checkpoint {checkpoint!r} ' +
            (f'(NaN/Inf weights in {weights[:3]})' if weights else
             '(its weights are finite: look for negative BatchNorm running_var or '
             'overflowing activations)'))


def all_finite(tensors: Any) -> Optional[torch.Tensor]:
    """A 0-dim bool tensor: every value of the (nested dict / list of) tensors is finite.

    Kept as a tensor (no host synchronisation); :class:`FiniteLossHook` reads it only after a
    non-finite loss. None when there is no tensor.
    """
    flat: List[torch.Tensor] = []

    def walk(node: Any) -> None:
        if isinstance(node, torch.Tensor):
            if node.is_floating_point():
                flat.append(torch.isfinite(node.detach()).all())
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)

    walk(tensors)
    return torch.stack(flat).all() if flat else None


def teacher_diagnosis(runner) -> Optional[str]:
    """What the teachers of a run say about a non-finite loss (None when they are fine).

    Asks the model (:class:`~kd_transfer.models.Distiller`) and every hook
    (:class:`~kd_transfer.hooks.ReviewKDHook`) that has a ``nonfinite_teacher()`` method.
    """
    model = getattr(runner, 'model', None)
    model = getattr(model, 'module', model)
    for owner in [model, *(getattr(runner, 'hooks', None) or [])]:
        ask = getattr(owner, 'nonfinite_teacher', None)
        if callable(ask):
            said = ask()
            if said:
                return said
    return None


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop training at the first non-finite loss term; never checkpoint non-finite weights.

    After every training iteration the logged loss terms (the entries of ``train_step``'s
    ``outputs`` whose name contains ``'loss'``, as mmengine's ``parse_losses`` sums) are
    recorded with a device-side finiteness flag: no host synchronisation per step on a GPU.
    The flags are read (one synchronisation; all-reduced in distributed runs so every rank
    stops at the same iteration) every ``check_interval`` iterations, before every checkpoint
    is written, before validation and at the end of each epoch and of training. The error
    names the *first* non-finite iteration of the window. The hook runs before mmengine's
    ``CheckpointHook`` (priority ``VERY_HIGH``) and checks again in ``before_save_checkpoint``,
    so no checkpoint of a failing iteration is written and ``last_checkpoint`` keeps pointing
    at the last good one; ``before_save_checkpoint`` also refuses a state dict holding NaN /
    Inf (e.g. a finite loss whose gradient overflowed).

    Args:
        check_interval (int, optional): iterations between two reads of the flags. ``None``
            (default): every iteration when the losses are on the CPU (reading them costs no
            synchronisation there), every 50 on an accelerator.

    Raises:
        NonFiniteLossError: Names the 1-based iteration (the number of the checkpoint it would
            have written: ``iter_<n>.pth``), the epoch, the offending terms and the last good
            checkpoint.
    """

    priority = 'VERY_HIGH'

    def __init__(self, check_interval: Optional[int] = None) -> None:
        if check_interval is not None and int(check_interval) < 1:
            raise ValueError(f'FiniteLossHook: check_interval must be >= 1, got {check_interval}')
        self.check_interval = None if check_interval is None else int(check_interval)
        # one entry per unchecked iteration: (iter + 1, epoch + 1, batch_idx, names, values)
        self._pending: List[tuple] = []

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        names, values, device = [], [], None
        for key, value in (outputs or {}).items():
            if 'loss' not in key:  # what mmengine sums into the loss; not e.g. mmseg's acc_seg,
                continue           # which is NaN for a crop whose pixels are all ignored
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                names.append(key)
                values.append(value.detach().reshape(()).float())
                device = value.device
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                names.append(key)
                values.append(float(value))
        if device is not None:
            values = torch.stack([v.to(device) if isinstance(v, torch.Tensor)
                                  else torch.tensor(v, device=device) for v in values])
        else:
            values = torch.tensor(values, dtype=torch.float32)
        self._pending.append((runner.iter + 1, runner.epoch + 1, batch_idx, names, values))
        interval = self.check_interval or (1 if values.device.type == 'cpu' else 50)
        if len(self._pending) >= interval:
            self._check(runner)

    def _check(self, runner) -> None:
        """Read the pending flags (one synchronisation) and raise at the first bad iteration."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        device = pending[-1][4].device
        ok = torch.stack([torch.isfinite(p[4]).all() for p in pending])
        if torch.distributed.is_available() and torch.distributed.is_initialized() \
                and torch.distributed.get_world_size() > 1:
            if device.type == 'cpu' and torch.cuda.is_available() \
                    and torch.distributed.get_backend() == 'nccl':
                device = torch.device('cuda', torch.cuda.current_device())
            flag = (~ok.all()).float().reshape(1).to(device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            anywhere = flag.to(ok.device)
        else:
            anywhere = (~ok.all()).float().reshape(1)
        read = torch.cat([ok.float(), anywhere]).tolist()  # the one synchronisation
        if not read[-1]:
            return
        first = next((i for i, good in enumerate(read[:-1]) if not good), len(pending) - 1)
        it, epoch, batch_idx, names, values = pending[first]
        terms = dict(zip(names, values.tolist()))
        bad = {k: v for k, v in terms.items() if not math.isfinite(v)}
        named = {k: v for k, v in bad.items() if k != 'loss'} or bad
        where = (', '.join(f'{k}={v}' for k, v in named.items()) if bad
                 else 'on another rank (this rank: ' +
                 ', '.join(f'{k}={v:.4g}' for k, v in terms.items()) + ')')
        teacher = teacher_diagnosis(runner)
        advice = (f'{teacher[:1].upper()}{teacher[1:]}. Lowering the learning rate will not '
                  'help: fix the teacher, then '
                  'start again' if teacher else 'Lower the learning rate or the loss weights, '
                  'or resume from that checkpoint')
        raise NonFiniteLossError(
            f'non-finite loss at iteration {it} (epoch {epoch}, batch '
            f'{batch_idx}): {where}. Training stopped before this iteration was checkpointed; '
            f'{_last_checkpoint(runner.work_dir)}. {advice}.')

    def after_train_epoch(self, runner) -> None:
        self._check(runner)

    def before_val_epoch(self, runner) -> None:
        self._check(runner)

    def after_train(self, runner) -> None:
        self._check(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        self._check(runner)
        for name, value in (checkpoint.get('state_dict') or {}).items():
            if isinstance(value, torch.Tensor) and value.is_floating_point() \
                    and not bool(torch.isfinite(value).all()):
                raise NonFiniteLossError(
                    f'refusing to save a checkpoint at iteration {runner.iter} (epoch '
                    f'{runner.epoch}): weight {name!r} holds NaN/Inf; '
                    f'{_last_checkpoint(runner.work_dir)}')


# ---------------------------------------------------------------- exact epoch resume
def get_rng_state() -> dict:
    """The global random states (python, numpy, torch CPU and CUDA) as checkpointable values.

    The torch states are stored as numpy ``uint8`` arrays, not tensors: mmengine resumes with
    ``map_location='cuda'`` (or any device the user names), which would move tensor states to
    the GPU, where ``torch.set_rng_state`` refuses them. Arrays are never moved.
    """
    state = dict(python=random.getstate(), numpy=np.random.get_state(),
                 torch=torch.get_rng_state().numpy().copy())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = [s.cpu().numpy().copy() for s in torch.cuda.get_rng_state_all()]
    return state


def _byte_tensor(value: Any, what: str) -> torch.Tensor:
    """A CPU ``uint8`` tensor from a stored state (numpy array, or a tensor on any device)."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.astype(np.uint8, copy=True))
    if isinstance(value, torch.Tensor):
        if value.device.type == 'meta':
            raise ValueError(f'random state {what!r} was loaded onto the meta device: its '
                             'values are gone; load the checkpoint with a real map_location')
        return value.detach().to('cpu', torch.uint8)
    raise TypeError(f'random state {what!r} has type {type(value).__name__}, expected a numpy '
                    'array or a tensor')


def set_rng_state(state: dict) -> None:
    """Restore what :func:`get_rng_state` returned (also its older tensor form, on any device).

    CUDA states are restored for the devices visible now; when fewer GPUs are visible than
    when the checkpoint was written, the extra states are skipped with a warning.
    """
    random.setstate(tuple(tuple(s) if isinstance(s, list) else s for s in state['python']))
    np.random.set_state(tuple(state['numpy']))
    torch.set_rng_state(_byte_tensor(state['torch'], 'torch'))
    cuda = state.get('cuda')
    if cuda is not None and len(cuda) and torch.cuda.is_available():
        visible = torch.cuda.device_count()
        for index, value in enumerate(list(cuda)[:visible]):
            torch.cuda.set_rng_state(_byte_tensor(value, f'cuda:{index}'), index)
        if len(cuda) > visible:
            print_log(f'RandomStateHook: the checkpoint holds CUDA random states of {len(cuda)} '
                      f'devices, {visible} visible now; restored the first {visible}',
                      logger='current', level=30)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Checkpoint the global random states so an epoch-based run resumes bit for bit.

    mmengine checkpoints weights, optimizer, schedulers and the message hub, not the random
    number generators. An epoch-based run resumes at an epoch boundary and draws its data
    augmentation (e.g. ``CIFAR100Pickle``'s random crop and flip, which run in the main
    process when ``num_workers=0``) from a generator that no longer is where the
    uninterrupted run's was, so the resumed run sees other crops and ends with other
    weights. This hook stores the python / numpy / torch (and CUDA) states in every
    checkpoint (``checkpoint['rng_state']``) and restores them before the first epoch after
    ``resume``.

    Iteration-based loops are left alone: mmengine's ``IterBasedTrainLoop`` replays the
    dataloader from the start on resume, which already reproduces the data stream.
    Dataloader *worker* processes keep their own generators: with ``num_workers > 0`` and
    ``persistent_workers=True`` a resumed run restarts them from their seeds, and no
    checkpoint can restore them.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._pending: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['rng_state'] = get_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if getattr(runner, '_resume', False) and isinstance(checkpoint.get('rng_state'), dict):
            self._pending = checkpoint['rng_state']

    def before_train_epoch(self, runner) -> None:
        from mmengine.runner import EpochBasedTrainLoop
        if self._pending is not None and isinstance(runner.train_loop, EpochBasedTrainLoop):
            set_rng_state(self._pending)
        self._pending = None


# ------------------------------------------------------------------ strict pretrained
def _few(keys: Sequence[str], n: int = 6) -> str:
    keys = list(keys)
    return '[' + ', '.join(keys[:n]) + (f' ... (+{len(keys) - n} more)' if len(keys) > n
                                        else '') + ']'


def _state_of(ckpt: Any) -> Dict[str, torch.Tensor]:
    """The state dict mmengine's ``load_checkpoint`` would load (``module.`` stripped)."""
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else {}
    if not isinstance(state, dict):
        return {}
    return {(k[len('module.'):] if k.startswith('module.') else k): v
            for k, v in state.items() if isinstance(v, torch.Tensor)}


def pretrained_mismatch(module: torch.nn.Module, ckpt: Any) -> Tuple[List[str], List[str],
                                                                     List[str]]:
    """Keys that would not load: ``(missing, unexpected, mis_shaped)``.

    ``num_batches_tracked`` is ignored (as mmengine does); the classifier of a kd_transfer
    architecture in backbone mode (``out_indices`` set) may be missing, since exported
    backbones do not contain it.
    """
    state = _state_of(ckpt)
    own = {k: v for k, v in module.state_dict().items() if not k.endswith('num_batches_tracked')}
    head = None
    if getattr(module, 'out_indices', None) is not None and hasattr(module, 'classifier'):
        head = next((f'{n}.' for n, m in module.named_modules() if m is module.classifier), None)
    missing = sorted(k for k in own if k not in state and not (head and k.startswith(head)))
    unexpected = sorted(k for k in state if k not in own and not k.endswith('num_batches_tracked'))
    mis_shaped = sorted(f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}'
                        for k in own if k in state and state[k].shape != own[k].shape)
    return missing, unexpected, mis_shaped


class StrictPretrainedInit(PretrainedInit):
    """mmengine's ``Pretrained`` initializer that refuses silent partial loads.

    mmengine loads ``init_cfg=dict(type='Pretrained', checkpoint=...)`` with ``strict=False``:
    a backbone exported for another architecture, or a training checkpoint given instead of
    the exported backbone, only logs a warning and training starts from (partly) random
    weights. Before delegating to mmengine, this initializer compares the keys and refuses:

    * any mismatch (missing, unexpected or mis-shaped keys; the unused classifier of a
      kd_transfer backbone excepted) when the module is a kd_transfer architecture or the
      checkpoint is an exported kd_transfer backbone (``meta['kd_transfer']``);
    * for any other module, a checkpoint none of whose keys fit, or with mis-shaped keys
      (upstream partial loads, e.g. an ImageNet ResNet with its ``fc`` into mmdet's ResNet,
      stay allowed).

    An exported backbone also records the normalisation its student was trained with
    (``meta['kd_transfer']['normalisation']``); when the module is initialised from a model's
    ``init_weights`` (as the runner does), that model's ``data_preprocessor`` must normalise
    the same way (:func:`kd_transfer.normalisation.mismatch`), unless the init_cfg sets
    ``allow_norm_mismatch=True`` (a deliberate experiment).

    Registered as ``'Pretrained'`` (in place of mmengine's) by the ``strict_pretrained`` patch
    of :mod:`kd_transfer.patches` (``KD_PATCH_STRICT_PRETRAINED=0`` switches it off).

    Raises:
        ValueError: The message names the checkpoint, the module and the offending keys, or
            both normalisations.
    """

    def __init__(self, *args, allow_norm_mismatch: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.allow_norm_mismatch = allow_norm_mismatch

    def __call__(self, module: torch.nn.Module) -> None:
        if self.prefix is None and isinstance(self.checkpoint, str) and \
                osp.isfile(osp.expanduser(self.checkpoint)):
            from .models.arch_base import ArchBase
            from .safe_load import load_checkpoint_file
            ckpt = load_checkpoint_file(osp.expanduser(self.checkpoint), map_location='cpu')
            meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
            exported = meta.get('kd_transfer') if isinstance(meta, dict) else None
            missing, unexpected, mis_shaped = pretrained_mismatch(module, ckpt)
            own = [k for k in module.state_dict() if not k.endswith('num_batches_tracked')]
            strict = isinstance(module, ArchBase) or isinstance(exported, dict)
            loaded_nothing = own and len(missing) == len(own)
            if (strict and (missing or unexpected or mis_shaped)) or mis_shaped or loaded_nothing:
                what = ''
                if isinstance(exported, dict):
                    what = (f' It was exported for {exported.get("arch")!r} '
                            f'(backbone {exported.get("backbone")}).')
                elif loaded_nothing:
                    what = (' None of its keys fit: is it a training checkpoint? Export the '
                            'student first with tools/export_backbone.py.')
                raise ValueError(
                    f'init_cfg Pretrained checkpoint {self.checkpoint!r} does not match '
                    f'{type(module).__name__}{_arch_hint(module)}: {len(missing)} missing '
                    f'{_few(missing)}, {len(unexpected)} unexpected {_few(unexpected)}, '
                    f'{len(mis_shaped)} mis-shaped {_few(mis_shaped, 3)}.{what} Nothing was '
                    'loaded (mmengine would have loaded the matching part and only warned).')
            bad = nonfinite_tensors(_state_of(ckpt))
            if bad:
                raise ValueError(
                    f'init_cfg Pretrained checkpoint {self.checkpoint!r} holds NaN/Inf in '
                    f'{len(bad)} tensor(s) {_few(bad)}; training from it would stop at the first '
                    'iteration with a non-finite loss. Re-export the backbone from a finite '
                    'checkpoint.')
            if isinstance(exported, dict) and not self.allow_norm_mismatch:
                _check_normalisation(self.checkpoint, exported, module)
        super().__call__(module)


def _enclosing_preprocessor(module: torch.nn.Module) -> Optional[torch.nn.Module]:
    """The ``data_preprocessor`` of the model whose ``init_weights`` is initialising
    ``module`` (found on the call stack), or None when ``module`` is initialised on its own."""
    import inspect
    frame = inspect.currentframe()
    try:
        while frame is not None:
            owner = frame.f_locals.get('self')
            pre = getattr(owner, 'data_preprocessor', None)
            if isinstance(owner, torch.nn.Module) and isinstance(pre, torch.nn.Module) and \
                    any(m is module for m in owner.modules()):
                return pre
            frame = frame.f_back
    finally:
        del frame
    return None


def _check_normalisation(checkpoint: str, exported: dict, module: torch.nn.Module) -> None:
    """Refuse a backbone trained under another normalisation than the model's preprocessor."""
    from . import normalisation as norm
    recorded = exported.get('normalisation')
    pre = _enclosing_preprocessor(module)
    if not isinstance(recorded, dict) or pre is None:
        return  # an export from before normalisation was recorded, or no model around it
    used = norm.of_preprocessor(pre)
    if norm.mismatch(recorded, used):
        raise ValueError(
            f'init_cfg Pretrained checkpoint {checkpoint!r} holds a {exported.get("arch")} '
            f'student trained with {norm.describe(recorded)}, but the model\'s data_preprocessor '
            f'feeds the backbone {norm.describe(used)}. Set model.data_preprocessor mean / std '
            f'(and bgr_to_rgb) to the recorded values, or add allow_norm_mismatch=True to the '
            f'backbone\'s init_cfg for a deliberate experiment.')


def _arch_hint(module: torch.nn.Module) -> str:
    depth = getattr(module, 'depth', None)
    return f' (depth {depth})' if isinstance(depth, int) else ''


# ----------------------------------------------------------------------- data checks
_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def _leaf_datasets(cfg: Any) -> Iterator[dict]:
    """Every dataset config inside a (Repeat / Concat / ClassBalanced...) dataset config."""
    if not isinstance(cfg, dict):
        return
    inner = [cfg[k] for k in ('dataset', 'datasets') if k in cfg]
    if not inner:
        yield cfg
        return
    for value in inner:
        for item in (value if isinstance(value, (list, tuple)) else [value]):
            yield from _leaf_datasets(item)


def _join(root: Optional[str], path: Optional[str]) -> Optional[str]:
    if not path:
        return None
    return path if osp.isabs(path) or not root else osp.join(root, path)


def _classes(ds: dict, default: Sequence[str]) -> Tuple[Tuple[str, ...], bool]:
    """``(class names, whether the config chose them)`` of a dataset config."""
    given = (ds.get('metainfo') or {}).get('classes')
    return (tuple(given), True) if given else (tuple(default), False)


def _check_voc(ds: dict) -> Tuple[List[str], List[str]]:
    """``(good ids, problems)`` of an mmdet ``VOCDataset`` config."""
    from .datasets.class_names import VOC_CLASSES
    from .datasets.file_checks import image_problem
    from .datasets.layout import VOC_LAYOUT, _read_ids, check_voc_annotation, repeated_ids
    root = ds.get('data_root') or ''
    sub = (ds.get('data_prefix') or {}).get('sub_data_root', '')
    ann = _join(root, ds['ann_file'])
    ids, problems = repeated_ids(_read_ids(Path(ann)), ann)  # skip mode keeps the first
    classes, _ = _classes(ds, VOC_CLASSES)
    good = []
    for image_id in ids:
        xml = osp.join(root, sub, 'Annotations', f'{image_id}.xml')
        img = osp.join(root, sub, 'JPEGImages', f'{image_id}.jpg')
        try:
            check_voc_annotation(xml, classes)
            if not osp.isfile(img):
                raise FileNotFoundError(f'image {img} (listed in {ann}) not found; expected '
                                        f'{VOC_LAYOUT}')
            unreadable = image_problem(img)
            if unreadable:
                raise ValueError(f'{unreadable} (listed in {ann})')
        except (ValueError, FileNotFoundError) as err:
            problems.append(str(err))
            continue
        good.append(image_id)
    return good, problems


def _bad_coco_annotation(ann: Any, image_ids: set, cat_ids: set,
                         sizes: Optional[dict] = None) -> Optional[str]:
    if not isinstance(ann, dict):
        return f'is a {type(ann).__name__}, expected an object'
    for key in ('id', 'image_id', 'category_id'):
        if not isinstance(ann.get(key), int) or isinstance(ann.get(key), bool):
            return f'"{key}" must be an integer, got {ann.get(key)!r}'
    bbox = ann.get('bbox')
    if not (isinstance(bbox, (list, tuple)) and len(bbox) == 4 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in bbox)):
        return f'"bbox" must be [x, y, w, h] (4 finite numbers), got {bbox!r}'
    if ann['image_id'] not in image_ids:
        return f'"image_id" {ann["image_id"]} is not in "images"'
    if ann['category_id'] not in cat_ids:
        return f'"category_id" {ann["category_id"]} is not in "categories"'
    from .datasets.box_checks import coco_box_problem
    return coco_box_problem(bbox, *(sizes or {}).get(ann['image_id'], (None, None)))


def _check_coco(ds: dict) -> Tuple[dict, List[str], str]:
    """``(cleaned json, problems, path)`` of an mmdet ``CocoDataset`` config."""
    from .datasets.layout import COCO_LAYOUT
    root = ds.get('data_root') or ''
    ann = _join(root, ds['ann_file'])
    if not osp.isfile(ann):
        raise FileNotFoundError(f'COCO annotation file {ann} not found; expected {COCO_LAYOUT}')
    try:
        with open(ann, encoding='utf-8') as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f'COCO annotation file {ann} is not valid JSON ({err}); expected the '
                         'COCO instances format') from None
    if not isinstance(data, dict) or not all(
            isinstance(data.get(k), list) for k in ('images', 'annotations', 'categories')):
        raise ValueError(f'COCO annotation file {ann}: expected an object with the lists '
                         '"images", "annotations" and "categories" (COCO instances format)')
    _check_coco_categories(ds, data['categories'], ann)
    from .datasets.file_checks import image_problem
    img_dir = _join(root, (ds.get('data_prefix') or {}).get('img', ''))
    problems: List[str] = []
    images = []
    id_count: Dict[int, int] = {}
    for img in data['images']:
        if isinstance(img, dict) and isinstance(img.get('id'), int):
            id_count[img['id']] = id_count.get(img['id'], 0) + 1
    for i, img in enumerate(data['images']):
        name = img.get('file_name') if isinstance(img, dict) else None
        if not isinstance(img, dict) or not isinstance(img.get('id'), int):
            problems.append(f'{ann}: images[{i}] has no integer "id"')
        elif id_count[img['id']] > 1:  # whose boxes are whose cannot be told: drop them all
            problems.append(f'{ann}: images[{i}] ({name}) shares image id {img["id"]} with '
                            f'{id_count[img["id"]] - 1} other image(s); ids must be unique')
        elif not isinstance(name, str) or not osp.isfile(osp.join(img_dir or '', name)):
            problems.append(f'{ann}: images[{i}] file {osp.join(img_dir or "", str(name))} '
                            'not found')
        elif (unreadable := image_problem(osp.join(img_dir or '', name))) is not None:
            problems.append(f'{ann}: images[{i}] {unreadable}')
        else:
            images.append(img)
    all_ids = {img['id'] for img in data['images']
               if isinstance(img, dict) and isinstance(img.get('id'), int)}
    kept_ids = {img['id'] for img in images}
    cat_ids = {c.get('id') for c in data['categories'] if isinstance(c, dict)}
    sizes = {img['id']: (img.get('width'), img.get('height')) for img in data['images']
             if isinstance(img, dict) and isinstance(img.get('id'), int)}
    anns = []
    for i, entry in enumerate(data['annotations']):
        why = _bad_coco_annotation(entry, all_ids, cat_ids, sizes)
        if why is not None:
            problems.append(f'{ann}: annotations[{i}] {why}')
        elif entry['image_id'] in kept_ids:  # entries of a skipped image go with it
            anns.append(entry)
    cleaned = dict(data, images=images, annotations=anns)
    return cleaned, problems, ann


def _check_coco_categories(ds: dict, categories: list, ann: str) -> None:
    """Refuse categories that would silently relabel or drop annotations.

    mmdet's ``CocoDataset`` keeps the categories whose *name* is in its classes, in the json's
    order, and numbers them 0, 1, ...: a category named differently from its class is dropped
    with all its annotations (and the later classes shift), a category id given twice maps to
    a label past the last class, and another order gives boxes the wrong class names. None of
    this can be fixed by skipping entries, so it is an error in both ``--on-bad-annotation``
    modes.
    """
    from .datasets.class_names import COCO_CATEGORIES
    classes, chosen = _classes(ds, [name for _, name, _ in COCO_CATEGORIES])
    seen_ids: Dict[Any, int] = {}
    seen_names: Dict[Any, int] = {}
    order = []
    for i, cat in enumerate(categories):
        if not isinstance(cat, dict) or not isinstance(cat.get('id'), int) \
                or not isinstance(cat.get('name'), str):
            raise ValueError(f'{ann}: categories[{i}] must be an object with an integer "id" '
                             f'and a string "name", got {cat!r}')
        if cat['id'] in seen_ids:
            raise ValueError(f'{ann}: categories[{i}] ({cat["name"]!r}) repeats the id '
                             f'{cat["id"]} of categories[{seen_ids[cat["id"]]}]; mmdet would '
                             'give its annotations a label past the last class')
        if cat['name'] in seen_names:
            raise ValueError(f'{ann}: categories[{i}] repeats the name {cat["name"]!r} of '
                             f'categories[{seen_names[cat["name"]]}]')
        seen_ids[cat['id']], seen_names[cat['name']] = i, i
        if cat['name'] in classes:
            order.append(cat['name'])
        elif not chosen:
            raise ValueError(f'{ann}: categories[{i}] name {cat["name"]!r} (id {cat["id"]}) is '
                             f'not one of the {len(classes)} dataset classes; mmdet would drop '
                             'all its annotations. Rename it, or set the classes with '
                             'metainfo=dict(classes=...)')
    missing = [c for c in classes if c not in seen_names]
    if missing:
        raise ValueError(f'{ann}: no category is named {_few(missing, 4)} (dataset classes '
                         f'without a category); mmdet would shift the labels of the later '
                         'classes. Check the category names against the class list')
    if order != list(classes):
        first = next(i for i, (a, b) in enumerate(zip(order, classes)) if a != b)
        raise ValueError(f'{ann}: the categories are not in the order of the dataset classes '
                         f'(class {first} is {classes[first]!r}, category {order[first]!r}); '
                         'mmdet numbers the categories in json order, so the boxes would get '
                         'the wrong class names')


#: Masks whose values are checked (decoded) per dataset; beyond this, an even spread of them.
MASK_VALUE_LIMIT = 3000


def _check_seg(ds: dict, log) -> Tuple[List[str], List[str], str]:
    """``(good sample names, problems, where)`` of an mmseg dataset config
    (``PascalVOCDataset``, ``COCOSemSegDataset``): every image readable (header only), every
    mask present, single-channel, of its image's size and (decoded, up to
    ``MASK_VALUE_LIMIT`` masks) holding only class indices or 255."""
    from .datasets.file_checks import image_problem, mask_problem
    from .datasets.layout import _read_ids, repeated_ids
    root = ds.get('data_root') or ''
    prefix = ds.get('data_prefix') or {}
    img_dir = _join(root, prefix.get('img_path', '')) or root
    seg_dir = _join(root, prefix.get('seg_map_path', '')) or root
    img_suffix = ds.get('img_suffix', '.jpg')
    seg_suffix = ds.get('seg_map_suffix', '.png')
    for what, path in (('img_path', img_dir), ('seg_map_path', seg_dir)):
        if not osp.isdir(path):
            raise FileNotFoundError(f'{ds.get("type")}: data_prefix {what} directory {path!r} '
                                    'does not exist (see data/README.md)')
    ann = _join(root, ds.get('ann_file'))
    repeats: List[str] = []
    if ann:
        names, repeats = repeated_ids(_read_ids(Path(ann)), ann)
        where = ann
    else:  # mmseg lists the image directory (recursively)
        names = sorted(osp.relpath(osp.join(d, f), img_dir)[:-len(img_suffix)]
                       for d, _, files in os.walk(img_dir) for f in files
                       if f.endswith(img_suffix))
        where = img_dir
    classes = (ds.get('metainfo') or {}).get('classes')
    num_classes = len(classes) if classes else None
    if num_classes is None and ds.get('type') == 'PascalVOCDataset':
        num_classes = 21
    elif num_classes is None and ds.get('type') == 'COCOSemSegDataset':
        from .datasets.coco_semseg import semseg_classes
        num_classes = len(semseg_classes(ds.get('classes_variant', 'coco80')))
    step = max(1, -(-len(names) // MASK_VALUE_LIMIT))
    if step > 1:
        log(f'{where}: mask values checked on every {step}th of {len(names)} masks (all masks '
            'are checked for presence, mode and size)', logger='current')
    good, problems = [], repeats
    for n, name in enumerate(names):
        img = osp.join(img_dir, name + img_suffix)
        why = image_problem(img) or mask_problem(
            osp.join(seg_dir, name + seg_suffix), img,
            num_classes if n % step == 0 else None, bool(ds.get('reduce_zero_label', False)))
        if why:
            problems.append(f'{why} (sample {name!r} of {where})')
        else:
            good.append(name)
    return good, problems, where


def check_datasets(cfg, loaders: Sequence[str] = _LOADERS, on_bad_annotation: str = 'fail',
                   log=print_log) -> Dict[str, int]:
    """Check the data a config reads before anything is built.

    * every dataset's ``data_root`` and ``ann_file`` exist (named in the error);
    * mmdet ``VOCDataset``: the image set lists ids, and each id has a well-formed XML with
      the fields mmdet reads (finite box values, ``difficult`` 0 / 1, object names among the
      dataset classes) and a readable image;
    * mmdet ``CocoDataset``: the JSON parses, has the instance lists, its categories match
      the dataset classes (names, order, unique ids; an error in both modes), image ids are
      unique, each image exists and is readable, and each annotation has an integer id /
      image_id / category_id (known ones) and a 4-number bbox;
    * mmseg ``PascalVOCDataset`` / ``COCOSemSegDataset``: each image is readable and its mask
      exists, has one channel and the image's size, and holds only class indices or 255
      (values decoded for up to ``MASK_VALUE_LIMIT`` masks per dataset).

    Images are checked from their first and last bytes only (empty, unknown format, JPEG /
    PNG end marker missing), not decoded.

    Args:
        cfg (Config): The config; changed in place with ``on_bad_annotation='skip'``.
        loaders (Sequence[str]): Dataloader entries to check.
        on_bad_annotation (str): ``'fail'``: raise on the first file with problems, listing
            them; ``'skip'``: write a copy without the bad images / entries to
            ``<work_dir>/checked_annotations/`` and point the config (and a CocoMetric reading
            the same file) at it, logging how many were skipped.
        log (callable): Where the skip summary goes.

    Returns:
        dict[str, int]: Skipped entries per annotation file (empty when all were good).

    Raises:
        FileNotFoundError: A data root or annotation file is missing.
        ValueError: Malformed annotations (``'fail'``), an unreadable file, or nothing left.
    """
    if on_bad_annotation not in ('fail', 'skip'):
        raise ValueError(f"--on-bad-annotation must be 'fail' or 'skip', got "
                         f'{on_bad_annotation!r}')
    skipped: Dict[str, int] = {}
    redirects: Dict[str, str] = {}
    for loader in loaders:
        if not isinstance(cfg.get(loader), dict) or 'dataset' not in cfg[loader]:
            continue
        for ds in _leaf_datasets(cfg[loader]['dataset']):
            where = f'{loader}.dataset ({ds.get("type")})'
            root = ds.get('data_root')
            if any('://' in str(ds.get(k, '')) for k in ('data_root', 'ann_file')):
                continue  # a remote backend (s3://, ...): read by mmengine's fileio, not here
            if root and not osp.isdir(root):
                raise FileNotFoundError(f'{where}: data_root {root!r} does not exist or is not '
                                        'a directory (see data/README.md for the layouts)')
            ann = _join(root, ds.get('ann_file'))
            ann = osp.normpath(ann) if ann else ann
            if ann and not osp.isfile(ann):
                raise FileNotFoundError(f'{where}: ann_file {ann!r} does not exist')
            if ann in redirects:  # the same file, already checked and cleaned for another loader
                ds['ann_file'] = redirects[ann]
                continue
            if ds.get('type') == 'VOCDataset' and ann:
                good, problems = _check_voc(ds)
                new = _handle(cfg, where, ann, problems, on_bad_annotation, bool(good),
                              '\n'.join(good) + '\n', log)
            elif ds.get('type') == 'CocoDataset' and ann:
                cleaned, problems, _ = _check_coco(ds)
                new = _handle(cfg, where, ann, problems, on_bad_annotation,
                              bool(cleaned['images']), json.dumps(cleaned), log)
            elif ds.get('type') in _SEG_TYPES:
                good, problems, source = _check_seg(ds, log)
                key = ann or f'{source}:{ds.get("data_prefix")}'
                if key in redirects:
                    ds['ann_file'] = redirects[key]
                    continue
                new = _handle(cfg, where, source, problems, on_bad_annotation, bool(good),
                              '\n'.join(good) + '\n', log,
                              None if ann else 'seg_' + osp.basename(source) + '.txt')
                if new is not None:
                    skipped[source] = len(problems)
                    redirects[key] = new
                    ds['ann_file'] = new
                continue
            else:
                continue
            if new is not None:
                skipped[ann] = len(problems)
                redirects[ann] = new
                ds['ann_file'] = new
    for key in ('val_evaluator', 'test_evaluator'):
        for ev in (cfg.get(key) if isinstance(cfg.get(key), list) else [cfg.get(key)]):
            if isinstance(ev, dict) and isinstance(ev.get('ann_file'), str) and \
                    osp.normpath(ev['ann_file']) in redirects:
                ev['ann_file'] = redirects[osp.normpath(ev['ann_file'])]
    return skipped


_SEG_TYPES = ('PascalVOCDataset', 'COCOSemSegDataset')


def _handle(cfg, where: str, ann: str, problems: List[str], mode: str, anything_left: bool,
            content: str, log, out_name: Optional[str] = None) -> Optional[str]:
    """Raise, or write the cleaned annotation file and return its path (None: all good)."""
    if not anything_left:
        raise ValueError(f'{where}: {ann} leaves no usable image' +
                         (f' ({len(problems)} problems, first: {problems[0]})' if problems
                          else ' (empty dataset)'))
    if not problems:
        return None
    if mode == 'fail':
        raise ValueError(f'{where}: {len(problems)} malformed annotation(s) in {ann}; first: '
                         f'{_few(problems, 3)}. Fix them, or pass --on-bad-annotation skip to '
                         'train without them.')
    out = osp.join(osp.abspath(cfg.work_dir), 'checked_annotations',
                   out_name or osp.basename(osp.dirname(ann)) + '_' + osp.basename(ann))
    atomic_write(out, content)
    log(f'{where}: skipped {len(problems)} malformed annotation(s) of {ann} '
        f'(first: {problems[0]}); training reads {out}', logger='current', level=30)
    return out


def _leaf_built(dataset) -> Iterator[Any]:
    """The datasets inside built dataset wrappers (Concat / Repeat / ClassBalanced...)."""
    inner = getattr(dataset, 'datasets', None)
    if inner is None and hasattr(dataset, 'dataset'):
        inner = [dataset.dataset]
    if inner is None:
        yield dataset
        return
    for item in inner:
        yield from _leaf_built(item)


def check_not_empty(runner, loaders: Sequence[str] = ('train_dataloader', )) -> None:
    """Build the runner's loaders now and refuse an empty dataset (mmengine would train on
    nothing, or fail later with an unrelated message: a ZeroDivisionError in the metric of an
    empty test set), and an ``indices=N`` larger than its dataset (mmengine takes the first N
    and silently uses every sample when there are fewer)."""
    for name in loaders:
        loop = {'train_dataloader': 'train_loop', 'val_dataloader': 'val_loop',
                'test_dataloader': 'test_loop'}[name]
        built = getattr(runner, loop) if runner.cfg.get(name) else None
        if built is None or not hasattr(built, 'dataloader'):
            continue  # no such loop (a run without validation)
        dataset = built.dataloader.dataset
        cfg = runner.cfg.get(name, {}).get('dataset', {})
        where = [f'{k}={d.get(k)!r}' for d in _leaf_datasets(cfg)
                 for k in ('type', 'data_root', 'ann_file', 'split') if d.get(k)]
        if len(dataset) == 0:
            raise ValueError(f'{name}: the dataset is empty ({", ".join(where)}); check the '
                             'paths, the image-set / annotation files and filter_cfg')
        for leaf in _leaf_built(dataset):
            wanted = getattr(leaf, '_indices', None)
            if isinstance(wanted, int) and not isinstance(wanted, bool) and \
                    len(leaf) < wanted:
                raise ValueError(f'{name}: indices={wanted} asks for the first {wanted} samples, '
                                 f'but the dataset has only {len(leaf)} ({", ".join(where)}); '
                                 f'lower indices to at most {len(leaf)} or remove it')


def refuse_existing_checkpoints(work_dir: str) -> None:
    """Refuse a new run whose checkpoints would overwrite those already in ``work_dir``."""
    found = sorted(glob.glob(osp.join(work_dir, '*.pth')))
    if osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        found.insert(0, osp.join(work_dir, 'last_checkpoint'))
    if found:
        raise FileExistsError(
            f'work dir {work_dir!r} already holds checkpoints '
            f'({_few([osp.basename(f) for f in found], 4)}) '
            'that a new run would overwrite; pass --resume to continue that run, --work-dir '
            'to start a new one elsewhere, or --force to overwrite them')


__all__ = ['FiniteLossHook', 'NonFiniteLossError', 'all_finite', 'nonfinite_tensors',
           'teacher_diagnosis', 'RandomStateHook', 'get_rng_state',
           'set_rng_state', 'StrictPretrainedInit', 'pretrained_mismatch',
           'check_datasets', 'check_not_empty', 'refuse_existing_checkpoints']
