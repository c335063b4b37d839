"""CIFAR100Pickle on the synthetic pickles, and its errors on bad inputs."""
import os
import pickle
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.dataset import default_collate
from mmengine.registry import DATASETS

from kd_transfer.datasets import CIFAR100Pickle, ClsDataSample
from kd_transfer.datasets.class_names import CIFAR100_FINE


def _raw(root, split):
    with open(root / 'cifar100' / 'cifar-100-python' / split, 'rb') as f:
        d = pickle.load(f, encoding='latin1')
    return d['data'].reshape(-1, 3, 32, 32), d['fine_labels']


def test_test_split_without_augmentation(synthetic_data):
    ds = DATASETS.build(dict(type='CIFAR100Pickle', data_root=str(synthetic_data / 'cifar100'),
                             split='test'))
    data, labels = _raw(synthetic_data, 'test')
    assert len(ds) == 32 and not ds.augment
    assert ds.metainfo['classes'] == CIFAR100_FINE
    for i in (0, 5, 31):
        item = ds[i]
        assert item['inputs'].dtype == torch.uint8 and item['inputs'].shape == (3, 32, 32)
        assert torch.equal(item['inputs'], torch.from_numpy(data[i]))
        sample = item['data_samples']
        assert isinstance(sample, ClsDataSample)
        assert sample.gt_label.dtype == torch.long and sample.gt_label.tolist() == [labels[i]]
    batch = default_collate([ds[0], ds[1]])
    assert batch['inputs'].shape == (2, 3, 32, 32) and len(batch['data_samples']) == 2


def test_train_split_augments_with_crop_and_flip(synthetic_data):
    ds = CIFAR100Pickle(str(synthetic_data / 'cifar100'), split='train')
    data, labels = _raw(synthetic_data, 'train')
    assert len(ds) == 64 and ds.augment
    torch.manual_seed(0)
    seen_shift = seen_flip = False
    for i in range(16):
        out = ds[i]['inputs']
        assert out.shape == (3, 32, 32) and out.dtype == torch.uint8
        assert ds[i]['data_samples'].gt_label.item() == labels[i]
        # the output must be a 32x32 window of the zero-padded image, possibly mirrored
        padded = F.pad(torch.from_numpy(data[i]), (4, 4, 4, 4))
        matches = [(dy, dx, flip) for dy in range(9) for dx in range(9) for flip in (0, 1)
                   if torch.equal(out, (lambda w: w.flip(-1) if flip else w)(
                       padded[:, dy:dy + 32, dx:dx + 32]))]
        assert matches, f'item {i} is not a padded crop / flip of the original'
        seen_shift |= all((dy, dx) != (4, 4) for dy, dx, _ in matches)
        seen_flip |= all(flip for _, _, flip in matches)
    assert seen_shift and seen_flip


def test_augment_can_be_switched(synthetic_data):
    ds = CIFAR100Pickle(str(synthetic_data / 'cifar100'), split='train', augment=False)
    data, _ = _raw(synthetic_data, 'train')
    assert torch.equal(ds[3]['inputs'], torch.from_numpy(data[3]))
    ds = CIFAR100Pickle(str(synthetic_data / 'cifar100'), split='test', augment=True)
    assert ds.augment


def test_data_root_may_be_the_pickle_folder(synthetic_data):
    ds = CIFAR100Pickle(str(synthetic_data / 'cifar100' / 'cifar-100-python'), split='test',
                        indices=4)
    assert len(ds) == 4


def test_missing_root_names_path_and_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match='cifar-100-python/{train,test,meta}') as err:
        CIFAR100Pickle(str(tmp_path / 'nowhere'))
    assert str(tmp_path / 'nowhere') in str(err.value)
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no cifar-100-python'):
        CIFAR100Pickle(str(tmp_path / 'empty'))


@pytest.fixture
def cifar_copy(synthetic_data, tmp_path):
    dst = tmp_path / 'cifar100'
    shutil.copytree(synthetic_data / 'cifar100', dst)
    return dst


def test_truncated_pickle_names_the_file(cifar_copy):
    train = cifar_copy / 'cifar-100-python' / 'train'
    size = os.path.getsize(train)
    with open(train, 'r+b') as f:
        f.truncate(size // 2)
    with pytest.raises(ValueError, match='not a readable CIFAR-100 pickle') as err:
        CIFAR100Pickle(str(cifar_copy), split='train')
    assert str(train) in str(err.value)


def test_missing_split_file_and_missing_key(cifar_copy):
    folder = cifar_copy / 'cifar-100-python'
    (folder / 'test').unlink()
    with pytest.raises(FileNotFoundError, match='test not found'):
        CIFAR100Pickle(str(cifar_copy), split='test')
    with open(folder / 'train', 'wb') as f:
        pickle.dump({b'data': np.zeros((2, 3072), np.uint8)}, f, protocol=2)
    with pytest.raises(ValueError, match=r"lacks the key\(s\) \['fine_labels'\]"):
        CIFAR100Pickle(str(cifar_copy), split='train')


def test_wrong_shapes_and_labels_are_refused(cifar_copy):
    train = cifar_copy / 'cifar-100-python' / 'train'
    with open(train, 'wb') as f:
        pickle.dump({'data': np.zeros((2, 1024), np.uint8), 'fine_labels': [0, 1]}, f)
    with pytest.raises(ValueError, match='N x 3072'):
        CIFAR100Pickle(str(cifar_copy), split='train')
    with open(train, 'wb') as f:
        pickle.dump({'data': np.zeros((2, 3072), np.uint8), 'fine_labels': [0, 100]}, f)
    with pytest.raises(ValueError, match=r'\[0, 100\)'):
        CIFAR100Pickle(str(cifar_copy), split='train')


def test_pickle_naming_other_callables_is_refused(cifar_copy):
    """A pickle that would call something (here os.getcwd) is refused, not executed."""

    class Evil:

        def __reduce__(self):
            return (os.getcwd, ())

    train = cifar_copy / 'cifar-100-python' / 'train'
    with open(train, 'wb') as f:
        pickle.dump({'data': Evil(), 'fine_labels': []}, f)
    with pytest.raises(ValueError, match='not allowed'):
        CIFAR100Pickle(str(cifar_copy), split='train')


def test_bad_arguments():
    with pytest.raises(ValueError, match='split'):
        CIFAR100Pickle('data/cifar100', split='val')
