"""ImageFolderCls on a tiny hand-made ImageNet-style tree."""
import numpy as np
import pytest
import torch
from mmengine.registry import DATASETS
from PIL import Image

from kd_transfer.datasets import ImageFolderCls

# class -> RGB colour of its (uniform) images
COLOURS = {'n02': (200, 30, 30), 'n01': (30, 200, 30), 'n10': (30, 30, 200)}


@pytest.fixture
def image_root(tmp_path):
    for split, count in (('train', 2), ('val', 1)):
        for wnid, colour in COLOURS.items():
            folder = tmp_path / split / wnid
            folder.mkdir(parents=True)
            for k in range(count):
                # 40 wide x 30 high; one PNG so the extension filter is exercised too
                ext = 'png' if k == 1 else 'JPEG'
                Image.new('RGB', (40, 30), colour).save(folder / f'{wnid}_{k}.{ext}')
            (folder / 'notes.txt').write_text('not an image')
    return tmp_path


def test_classes_follow_sorted_wnids_and_val_transform(image_root):
    ds = DATASETS.build(dict(type='ImageFolderCls', data_root=str(image_root), split='val',
                             image_size=16))
    assert ds.metainfo['classes'] == ('n01', 'n02', 'n10')
    assert len(ds) == 3 and not ds.augment
    for i, wnid in enumerate(('n01', 'n02', 'n10')):
        item = ds[i]
        img = item['inputs']
        assert img.dtype == torch.uint8 and img.shape == (3, 16, 16)
        assert item['data_samples'].gt_label.tolist() == [i]
        # a uniform image stays uniform (JPEG may move a value by a few levels)
        expected = torch.tensor(COLOURS[wnid], dtype=torch.float32)[:, None, None]
        assert (img.float() - expected).abs().max() <= 4
        assert item['data_samples'].ori_shape == (30, 40)


def test_val_resize_then_centre_crop_geometry(tmp_path):
    # left half black, right half white, 60 wide x 30 high: short side 30 -> 18 (16 / 0.875),
    # width 60 -> 36; the centre 16 x 16 crop covers x in [10, 26) of the 36-wide image,
    # so its left half is black and its right half white.
    folder = tmp_path / 'val' / 'n00'
    folder.mkdir(parents=True)
    img = np.zeros((30, 60, 3), np.uint8)
    img[:, 30:] = 255
    Image.fromarray(img).save(folder / 'a.png')
    out = ImageFolderCls(str(tmp_path), split='val', image_size=16)[0]['inputs']
    assert (out[:, :, :7] < 10).all() and (out[:, :, 9:] > 245).all()


def test_train_transform_shapes(image_root):
    ds = ImageFolderCls(str(image_root), split='train', image_size=24)
    assert len(ds) == 6 and ds.augment
    labels = [ds[i]['data_samples'].gt_label.item() for i in range(6)]
    assert labels == [0, 0, 1, 1, 2, 2]
    assert ds[0]['inputs'].shape == (3, 24, 24) and ds[0]['inputs'].dtype == torch.uint8


def test_errors_name_the_path(tmp_path, image_root):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        ImageFolderCls(str(tmp_path / 'nowhere'))
    (tmp_path / 'only_train' / 'train' / 'n01').mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match='only_train/val'):
        ImageFolderCls(str(tmp_path / 'only_train'), split='val')
    with pytest.raises(ValueError, match='only_train/train/n01 holds no image'):
        ImageFolderCls(str(tmp_path / 'only_train'), split='train')
    (tmp_path / 'flat' / 'val').mkdir(parents=True)
    with pytest.raises(ValueError, match='no class directories'):
        ImageFolderCls(str(tmp_path / 'flat'), split='val')


def test_corrupt_image_names_the_file(image_root):
    bad = image_root / 'val' / 'n01' / 'n01_0.JPEG'
    bad.write_bytes(b'not a jpeg')
    ds = ImageFolderCls(str(image_root), split='val', image_size=16)
    with pytest.raises(ValueError, match='n01_0.JPEG'):
        ds[0]
