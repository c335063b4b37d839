"""ImageNet (or any ImageFolder tree) for classification: ``root/{train,val}/<wnid>/*.JPEG``."""
import os
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

from mmengine.dataset import BaseDataset
from mmengine.registry import DATASETS
from PIL import Image
from torchvision.transforms import v2

from .cls_sample import ClsDataSample

LAYOUT = ('<data_root>/{train,val}/<wnid>/*.JPEG, one directory per class in both splits '
          '(the val images sorted into class folders), e.g. data/imagenet/train/n01440764/'
          'n01440764_10026.JPEG; see data/README.md')
IMG_EXTENSIONS = ('.jpeg', '.jpg', '.png', '.bmp', '.webp')


def scan_image_folder(
        split_dir: Union[str, Path]) -> Tuple[List[str], List[Tuple[str, int]]]:
    """List ``(image_path, class_index)`` pairs and the class names of an ImageFolder tree.

    Args:
        split_dir (str | Path): Directory with one sub-directory per class.

    Returns:
        tuple[list[str], list[tuple[str, int]]]: Sorted class names and the samples (sorted by
        class, then file name). Class ``i`` is the i-th directory name in sorted order.

    Raises:
        FileNotFoundError: ``split_dir`` does not exist.
        ValueError: No class directory, or a class directory without images.
    """
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise FileNotFoundError(f'{split_dir} does not exist; expected {LAYOUT}')
    classes = sorted(e.name for e in os.scandir(split_dir) if e.is_dir())
    if not classes:
        raise ValueError(f'{split_dir} has no class directories; expected {LAYOUT}')
    samples = []
    for index, name in enumerate(classes):
        class_dir = split_dir / name
        files = sorted(e.name for e in os.scandir(class_dir)
                       if e.is_file() and e.name.lower().endswith(IMG_EXTENSIONS))
        if not files:
            raise ValueError(f'class directory {class_dir} holds no image '
                             f'({"/".join(IMG_EXTENSIONS)}); expected {LAYOUT}')
        samples += [(str(class_dir / f), index) for f in files]
    return classes, samples


@DATASETS.register_module()
class ImageFolderCls(BaseDataset):
    """ImageNet-style classification folders, images returned as uint8 CHW tensors.

    Training: ``RandomResizedCrop(image_size)`` + horizontal flip. Evaluation: resize the
    short side to ``image_size / 0.875`` (256 for 224) + centre crop ``image_size``.
    Transforms are torchvision ``transforms.v2``; normalisation is left to the model's data
    preprocessor. Class indices follow the sorted directory (wnid) names.

    Args:
        data_root (str): Directory holding ``train/`` and ``val/``.
        split (str): ``'train'`` or ``'val'``.
        image_size (int): Output height and width.
        augment (bool, optional): Training transforms if True, evaluation transforms if False.
            Defaults to True for ``'train'``.
        metainfo (dict, optional): Overrides of the meta information (``classes`` defaults to
            the sorted wnids).
        indices (int | Sequence[int], optional): Keep only these samples (mmengine semantics).
        test_mode (bool, optional): mmengine's test mode. Defaults to ``split == 'val'``.
        lazy_init (bool): Defer scanning the directories to ``full_init()``.
    """

    SPLITS = ('train', 'val')

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 image_size: int = 224,
                 augment: Optional[bool] = None,
                 metainfo: Optional[dict] = None,
                 indices: Optional[Union[int, Sequence[int]]] = None,
                 test_mode: Optional[bool] = None,
                 lazy_init: bool = False) -> None:
        if split not in self.SPLITS:
            raise ValueError(f'split must be one of {self.SPLITS}, got {split!r}')
        root = Path(data_root)
        if not root.is_dir():
            raise FileNotFoundError(f'ImageNet data_root {root} does not exist; expected {LAYOUT}')
        self.split = split
        self.split_dir = root / split
        self.image_size = int(image_size)
        self.augment = (split == 'train') if augment is None else bool(augment)
        if self.augment:
            self.transform = v2.Compose([
                v2.RandomResizedCrop(self.image_size, antialias=True),
                v2.RandomHorizontalFlip(),
                v2.PILToTensor()])
        else:
            self.transform = v2.Compose([
                v2.Resize(int(round(self.image_size / 0.875)), antialias=True),
                v2.CenterCrop(self.image_size),
                v2.PILToTensor()])
        self._user_metainfo = dict(metainfo or {})
        super().__init__(
            ann_file='',
            metainfo=metainfo,
            data_root=str(root),
            data_prefix=dict(),
            indices=indices,
            serialize_data=False,
            pipeline=[],
            test_mode=(split == 'val') if test_mode is None else test_mode,
            lazy_init=lazy_init)

    def load_data_list(self) -> List[dict]:
        """Scan ``<data_root>/<split>``; the sorted directory names become ``classes``."""
        classes, samples = scan_image_folder(self.split_dir)
        if 'classes' not in self._user_metainfo:
            self._metainfo['classes'] = tuple(classes)
        return [dict(img_path=path, gt_label=label) for path, label in samples]

    def prepare_data(self, idx: int) -> dict:
        """Return ``dict(inputs=uint8 3 x S x S tensor, data_samples=ClsDataSample)``."""
        info = self.get_data_info(idx)
        path = info['img_path']
        try:
            with Image.open(path) as im:
                image = im.convert('RGB')
        except Exception as err:
            raise ValueError(f'cannot read image {path}: {type(err).__name__}: {err}') from err
        ori_shape = (image.height, image.width)
        img = self.transform(image)
        sample = ClsDataSample(metainfo=dict(sample_idx=info['sample_idx'], img_path=path,
                                             ori_shape=ori_shape, img_shape=tuple(img.shape[-2:])))
        sample.gt_label = info['gt_label']
        return dict(inputs=img, data_samples=sample)
