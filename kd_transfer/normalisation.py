"""The input normalisation a student was trained with, recorded and compared.

A backbone only means what it learned under the normalisation it was trained with: the
exporter records it in the checkpoint's provenance (``meta['kd_transfer']['normalisation']``,
see :func:`record`) and the strict ``Pretrained`` initialiser refuses a detector / segmentor
whose data preprocessor normalises differently (:func:`mismatch`).

A record is ``{'mean': [3 floats], 'std': [3 floats], 'channel_order': 'RGB' | 'BGR',
'from': str}`` on the 0-255 scale. ``channel_order`` is the order of the channels *the network
sees* (after any conversion of the preprocessor), which is also the order of ``mean`` / ``std``.

Channel order of the loaded images: kd_transfer's classification datasets give RGB images
(CIFAR pickles, PIL); mmdet / mmseg pipelines load with mmcv, which gives BGR, so their
preprocessors' ``bgr_to_rgb=True`` makes the network see RGB.
"""
from typing import Any, Dict, Optional, Sequence

#: ImageNet statistics on the 0-255 scale, RGB: torchvision's ``Normalize(mean=(0.485, 0.456,
#: 0.406), std=(0.229, 0.224, 0.225))`` times 255 (also mdistiller's ImageNet loaders).
IMAGENET = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
#: RepDistiller's ``dataset/cifar100.py`` and mdistiller's ``mdistiller/dataset/cifar100.py``
#: ``Normalize((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761))``, times 255, RGB.
CIFAR100_UPSTREAM = dict(mean=[0.5071 * 255, 0.4867 * 255, 0.4408 * 255],
                         std=[0.2675 * 255, 0.2565 * 255, 0.2761 * 255])

#: Two normalisations are the same when every mean / std value agrees within this relative
#: tolerance (RepDistiller's rounded CIFAR-100 statistics and the exact ones of
#: configs/_base_/cls/cifar100.py differ by < 0.07%; CIFAR and ImageNet differ by > 4%).
RTOL = 5e-3

CHANNEL_ORDERS = ('RGB', 'BGR')


def record(mean: Sequence[float], std: Sequence[float], channel_order: str = 'RGB',
           source: str = '') -> Dict[str, Any]:
    """A normalisation record (see the module docstring).

    Raises:
        ValueError: ``mean`` / ``std`` are not 3 positive-std numbers or the order is unknown.
    """
    mean, std = [float(v) for v in mean], [float(v) for v in std]
    if len(mean) != 3 or len(std) != 3 or any(v <= 0 for v in std):
        raise ValueError(f'normalisation: expected 3 means and 3 positive stds on the 0-255 '
                         f'scale, got mean={mean} std={std}')
    if max(mean) <= 1.0 and max(std) <= 1.0:
        # torchvision-style Normalize((0.485, ...), (0.229, ...)) values: the pipelines here feed
        # 0-255 pixels, so these would normalise nothing (a silent 255x error)
        raise ValueError(f'normalisation: mean={mean} std={std} look like the 0-1 scale; give '
                         'them on the 0-255 scale (multiply by 255, e.g. 123.675 for 0.485)')
    if channel_order not in CHANNEL_ORDERS:
        raise ValueError(f'normalisation: channel order must be one of {CHANNEL_ORDERS}, '
                         f'got {channel_order!r}')
    return {'mean': [round(v, 4) for v in mean], 'std': [round(v, 4) for v in std],
            'channel_order': channel_order, 'from': source}


def of_layout(source_format: str, imagenet_arch: bool) -> Optional[Dict[str, Any]]:
    """The normalisation a code base trains with: torchvision / mdistiller ImageNet models
    with ImageNet statistics, RepDistiller / mdistiller CIFAR models with their CIFAR-100 ones
    (all RGB). None for an unknown combination."""
    if imagenet_arch and source_format in ('torchvision', 'mdistiller'):
        return record(IMAGENET['mean'], IMAGENET['std'], 'RGB',
                      f'{source_format} ImageNet layout (torchvision statistics)')
    if not imagenet_arch and source_format in ('repdistiller', 'mdistiller'):
        return record(CIFAR100_UPSTREAM['mean'], CIFAR100_UPSTREAM['std'], 'RGB',
                      f'{source_format} CIFAR-100 layout (its Normalize statistics)')
    return None


#: Data preprocessor types of mmdet / mmseg (their pipelines load BGR images with mmcv).
BGR_PREPROCESSORS = ('DetDataPreprocessor', 'SegDataPreProcessor', 'BatchFixedSizePad',
                     'MultiBranchDataPreprocessor', 'TrackDataPreprocessor')
#: Keys only a detector / segmentor model config has.
DENSE_MODEL_KEYS = ('rpn_head', 'roi_head', 'bbox_head', 'decode_head', 'neck', 'mask_head')


def loads_bgr(preprocessor: Optional[dict], model: Optional[dict] = None) -> bool:
    """Whether the model of a config is fed mmcv-loaded BGR images (an mmdet / mmseg model)
    rather than kd_transfer's RGB classification images: told from the preprocessor type
    (``DetDataPreprocessor``, ``mmdet.…``) or, for a generic one, from the model's heads."""
    kind = str((preprocessor or {}).get('type', '')) if isinstance(preprocessor, dict) else ''
    if kind.startswith(('mmdet.', 'mmseg.')) or kind.split('.')[-1] in BGR_PREPROCESSORS:
        return True
    return isinstance(model, dict) and any(k in model for k in DENSE_MODEL_KEYS)


def of_preprocessor_cfg(cfg: Optional[dict], where: str,
                        model: Optional[dict] = None) -> Optional[Dict[str, Any]]:
    """The record of a ``data_preprocessor`` config (a kd_transfer classifier's, or a
    detector's / segmentor's exported as a backbone).

    ``None`` (the key absent) is :class:`~kd_transfer.models.KDClassifier`'s default, the
    CIFAR-100 statistics. The classification datasets give RGB images, so the network sees
    BGR only when the config swaps channels; mmdet / mmseg models (:func:`loads_bgr`, from the
    preprocessor type or the ``model`` config) get BGR images, so the network sees RGB exactly
    when ``bgr_to_rgb`` is set. Returns None when the config does not normalise.
    """
    if cfg is None and not loads_bgr(None, model):
        from .models.classifier import CIFAR100_MEAN, CIFAR100_STD
        return record(CIFAR100_MEAN, CIFAR100_STD, 'RGB', f'{where} (KDClassifier default)')
    if not isinstance(cfg, dict) or cfg.get('mean') is None or cfg.get('std') is None:
        return None
    swap = bool(cfg.get('bgr_to_rgb') or cfg.get('rgb_to_bgr'))
    source_bgr = loads_bgr(cfg, model)
    order = 'RGB' if source_bgr == swap else 'BGR'
    return record(cfg['mean'], cfg['std'], order,
                  f'{where} (bgr_to_rgb={swap}, mmcv-loaded BGR images)' if source_bgr else where)


def of_preprocessor(module: Any) -> Optional[Dict[str, Any]]:
    """The record of a built data preprocessor (mmengine ``ImgDataPreprocessor``, mmdet's
    ``DetDataPreprocessor``, mmseg's ``SegDataPreProcessor``); None if it does not normalise.

    mmdet / mmseg preprocessors receive mmcv-loaded BGR images; any other (kd_transfer's
    classifiers) receives RGB images.
    """
    if not getattr(module, '_enable_normalize', False):
        return None
    swap = bool(getattr(module, '_channel_conversion', getattr(module, 'channel_conversion',
                                                               False)))
    loads_bgr = type(module).__module__.startswith(('mmdet', 'mmseg'))
    order = 'RGB' if loads_bgr == swap else 'BGR'
    return record(module.mean.flatten().tolist(), module.std.flatten().tolist(), order,
                  f'{type(module).__name__} (bgr_to_rgb={swap})')


def mismatch(recorded: Dict[str, Any], used: Optional[Dict[str, Any]],
             rtol: float = RTOL) -> bool:
    """True when ``used`` (None: no normalisation) is not ``recorded``."""
    if used is None:
        return True
    if recorded.get('channel_order', 'RGB') != used['channel_order']:
        return True
    return any(abs(a - b) > rtol * abs(b) for key in ('mean', 'std')
               for a, b in zip(used[key], recorded[key]))


def describe(norm: Optional[Dict[str, Any]]) -> str:
    """``mean [..] std [..] (RGB)`` for messages."""
    if norm is None:
        return 'no normalisation'
    fmt = lambda vs: '[' + ', '.join(f'{v:.3f}' for v in vs) + ']'  # noqa: E731
    src = f', from {norm["from"]}' if norm.get('from') else ''
    return f'mean {fmt(norm["mean"])} std {fmt(norm["std"])} ({norm["channel_order"]}{src})'


__all__ = ['IMAGENET', 'CIFAR100_UPSTREAM', 'RTOL', 'record', 'of_layout', 'loads_bgr',
           'of_preprocessor_cfg', 'of_preprocessor', 'mismatch', 'describe']
