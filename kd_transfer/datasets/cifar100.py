"""CIFAR-100 from the standard python pickles (``cifar-100-python/{train,test,meta}``)."""
import pickle
from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dataset import BaseDataset
from mmengine.registry import DATASETS

from .class_names import CIFAR100_FINE
from .cls_sample import ClsDataSample

LAYOUT = ('<data_root>/cifar-100-python/{train,test,meta} (the python version of CIFAR-100, '
          'e.g. data/cifar100/cifar-100-python/{train,test,meta}; see data/README.md, or '
          'generate a synthetic set with tools/make_synthetic_data.py)')

# The only callable a CIFAR pickle may name: numpy's array reconstructor (under the numpy 1.x
# or 2.x module name), the array and dtype types, and ``_codecs.encode`` (how a Python-3
# protocol-2 pickle stores bytes). Anything else is refused instead of executed.
_RECONSTRUCT = np.ndarray((0,)).__reduce__()[0]
_ALLOWED_GLOBALS = {
    ('numpy.core.multiarray', '_reconstruct'): _RECONSTRUCT,
    ('numpy._core.multiarray', '_reconstruct'): _RECONSTRUCT,
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): np.dtype,
}


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that only resolves the globals a CIFAR pickle needs."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        if (module, name) == ('_codecs', 'encode'):
            import codecs
            return codecs.encode
        raise pickle.UnpicklingError(f'global {module}.{name} is not allowed in a CIFAR pickle')


def _str_keys(obj: dict) -> dict:
    return {(k.decode('latin1') if isinstance(k, bytes) else k): v for k, v in obj.items()}


def load_cifar_pickle(path: Union[str, Path], required: Sequence[str]) -> dict:
    """Load one CIFAR pickle safely and check that it is a dict with the required keys.

    Args:
        path (str | Path): The pickle file.
        required (Sequence[str]): Keys (as str) the dict must contain.

    Returns:
        dict: The content with str keys.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is truncated, not a pickle, or lacks a required key.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'CIFAR-100 file {path} not found; expected {LAYOUT}')
    try:
        with path.open('rb') as f:
            obj = _CifarUnpickler(f, encoding='bytes').load()
    except Exception as err:  # truncated / corrupt / not a pickle / refused global
        raise ValueError(f'{path} is not a readable CIFAR-100 pickle ({type(err).__name__}: '
                         f'{err}); expected {LAYOUT}') from err
    if not isinstance(obj, dict):
        raise ValueError(f'{path} holds a {type(obj).__name__}, expected a dict; expected '
                         f'{LAYOUT}')
    obj = _str_keys(obj)
    missing = [k for k in required if k not in obj]
    if missing:
        raise ValueError(f'{path} lacks the key(s) {missing} (found {sorted(obj)}); expected '
                         f'{LAYOUT}')
    return obj


def _decode_names(path: Path, key: str, names) -> List[str]:
    if not isinstance(names, (list, tuple)) or not names:
        raise ValueError(f"{path}: '{key}' must be a non-empty list of names")
    return [n.decode('latin1') if isinstance(n, bytes) else str(n) for n in names]


def resolve_cifar_dir(data_root: Union[str, Path]) -> Path:
    """Find the ``cifar-100-python`` directory under ``data_root`` (or ``data_root`` itself).

    Raises:
        FileNotFoundError: Neither ``data_root/cifar-100-python`` nor ``data_root`` holds the
            pickles.
    """
    root = Path(data_root)
    if not root.is_dir():
        raise FileNotFoundError(f'CIFAR-100 data_root {root} does not exist; expected {LAYOUT}')
    if (root / 'cifar-100-python').is_dir():
        return root / 'cifar-100-python'
    if (root / 'meta').is_file():
        return root
    raise FileNotFoundError(f'{root} has no cifar-100-python/ directory; expected {LAYOUT}')


@DATASETS.register_module()
class CIFAR100Pickle(BaseDataset):
    """CIFAR-100 read from the standard python pickles; never downloads.

    Each item is ``dict(inputs=<uint8 tensor 3 x 32 x 32>, data_samples=ClsDataSample)``
    with ``gt_label`` the fine label. Training augmentation (random 32 x 32 crop of the
    zero-padded image, then a horizontal flip with probability 0.5) is done with torch ops
    on the uint8 tensor; normalisation is left to the model's data preprocessor.

    Args:
        data_root (str): Directory holding ``cifar-100-python/`` (or that directory itself).
        split (str): ``'train'`` or ``'test'``.
        augment (bool, optional): Random crop + flip. Defaults to True for ``'train'``.
        pad (int): Zero padding of the random crop.
        metainfo (dict, optional): Overrides of the meta information (``classes`` is read
            from the ``meta`` pickle).
        indices (int | Sequence[int], optional): Keep only these samples (mmengine semantics).
        test_mode (bool, optional): mmengine's test mode. Defaults to ``split == 'test'``.
        lazy_init (bool): Defer reading the pickle to ``full_init()``.
    """

    METAINFO = dict(classes=CIFAR100_FINE)
    SPLITS = ('train', 'test')

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 augment: Optional[bool] = None,
                 pad: int = 4,
                 metainfo: Optional[dict] = None,
                 indices: Optional[Union[int, Sequence[int]]] = None,
                 test_mode: Optional[bool] = None,
                 lazy_init: bool = False) -> None:
        if split not in self.SPLITS:
            raise ValueError(f"split must be one of {self.SPLITS}, got {split!r}")
        if pad < 0:
            raise ValueError(f'pad must be >= 0, got {pad}')
        self.split = split
        self.augment = (split == 'train') if augment is None else bool(augment)
        self.pad = int(pad)
        self.cifar_dir = resolve_cifar_dir(data_root)
        meta_path = self.cifar_dir / 'meta'
        meta = load_cifar_pickle(meta_path, ('fine_label_names', ))
        classes = tuple(_decode_names(meta_path, 'fine_label_names', meta['fine_label_names']))
        self._images = torch.empty((0, 3, 32, 32), dtype=torch.uint8)
        super().__init__(
            ann_file='',
            metainfo=dict(dict(classes=classes), **(metainfo or {})),
            data_root=str(self.cifar_dir),
            data_prefix=dict(),
            indices=indices,
            serialize_data=False,
            pipeline=[],
            test_mode=(split == 'test') if test_mode is None else test_mode,
            lazy_init=lazy_init)

    def load_data_list(self) -> List[dict]:
        """Read ``<cifar_dir>/<split>`` and keep its pixels as one uint8 tensor."""
        path = self.cifar_dir / self.split
        batch = load_cifar_pickle(path, ('data', 'fine_labels'))
        data, labels = batch['data'], batch['fine_labels']
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
                or data.shape[1] != 3072:
            desc = (f'{data.dtype} array of shape {data.shape}'
                    if isinstance(data, np.ndarray) else type(data).__name__)
            raise ValueError(f"{path}: 'data' must be a uint8 array of shape N x 3072, got "
                             f'{desc}')
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) != len(data) or not np.issubdtype(
                labels.dtype, np.integer):
            raise ValueError(f"{path}: 'fine_labels' must be {len(data)} integers (one per "
                             f'row of data), got {labels.dtype} array of shape {labels.shape}')
        num_classes = len(self.metainfo['classes'])
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"{path}: 'fine_labels' must lie in [0, {num_classes}), got "
                             f'[{labels.min()}, {labels.max()}]')
        if len(data) == 0:
            raise ValueError(f'{path} holds no images')
        self._images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
        return [dict(img_index=i, gt_label=int(label)) for i, label in enumerate(labels)]

    def get_gt_labels(self) -> np.ndarray:
        """Fine labels of all (kept) samples, in order."""
        return np.array([self.get_data_info(i)['gt_label'] for i in range(len(self))])

    def _random_crop_flip(self, img: torch.Tensor) -> torch.Tensor:
        if self.pad > 0:
            padded = F.pad(img, (self.pad, ) * 4)
            top, left = torch.randint(0, 2 * self.pad + 1, (2, )).tolist()
            img = padded[:, top:top + 32, left:left + 32]
        if torch.rand(()) < 0.5:
            img = img.flip(-1)
        return img.contiguous()

    def prepare_data(self, idx: int) -> dict:
        """Return ``dict(inputs=uint8 3 x 32 x 32 tensor, data_samples=ClsDataSample)``."""
        info = self.get_data_info(idx)
        img = self._images[info['img_index']].clone()
        if self.augment:
            img = self._random_crop_flip(img)
        sample = ClsDataSample(metainfo=dict(sample_idx=info['sample_idx'], img_shape=(32, 32),
                                             ori_shape=(32, 32)))
        sample.gt_label = info['gt_label']
        return dict(inputs=img, data_samples=sample)
