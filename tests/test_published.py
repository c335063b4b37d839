"""The published-numbers table: lookups, names, and one config per published (pair, method)."""
from pathlib import Path

import pytest

from kd_transfer.distill import DISTILL_METHODS
from kd_transfer.models import ARCHS
from kd_transfer.published import (PUBLISHED, cls_dataset_name, published_alone_top1,
                                   published_entry, published_pairs, published_top1)

CONFIGS = Path(__file__).parents[1] / 'configs' / 'distill'


@pytest.mark.parametrize('key,value', [
    # RepDistiller README, table 1 / 2 (teacher / student / KD / FitNet / AT rows)
    (('cifar100', 'wrn40_2', 'wrn16_2', 'teacher'), 75.61),
    (('cifar100', 'wrn40_2', 'wrn16_2', 'baseline'), 73.26),
    (('cifar100', 'resnet110', 'resnet20', 'fitnets'), 68.99),
    (('cifar100', 'resnet32x4', 'shufflev1', 'at'), 71.73),
    (('cifar100', 'wrn40_2', 'shufflev1', 'kd'), 74.83),
    # mdistiller README (DKD rows)
    (('cifar100', 'resnet32x4', 'resnet8x4', 'dkd'), 76.32),
    (('imagenet', 'resnet50', 'mobilenetv1', 'dkd'), 72.05),
    (('imagenet', 'resnet34', 'resnet18', 'kd'), 71.03),
    # official ReviewKD ImageNet README
    (('imagenet', 'resnet34', 'resnet18', 'baseline'), 69.75),
    (('imagenet', 'resnet50', 'mobilenetv1', 'reviewkd'), 72.56),
    (('imagenet', 'resnet50', 'mobilenetv1', 'baseline'), 68.87),
])
def test_lookup(key, value):
    assert published_top1(*key) == value
    assert published_entry(*key).source


def test_dataset_spelling_and_missing_entries():
    assert published_top1('CIFAR-100', 'resnet56', 'resnet20', 'kd') == 70.66
    assert published_top1('cifar100', 'resnet56', 'resnet20', 'gld') is None
    assert published_top1('cifar100', 'resnet56', 'resnet20', 'gld+reviewkd') is None
    assert published_top1('imagenet', 'resnet50', 'mobilenetv2', 'dkd') is None  # own pair
    assert published_top1('imagenet', 'resnet18', 'resnet34', 'kd') is None  # order matters


def test_first_listed_source_wins():
    """KD on R50 -> MobileNet: mdistiller README 70.50 (listed first) vs the paper's 68.58."""
    rows = [r for r in PUBLISHED if r[:4] == ('imagenet', 'resnet50', 'mobilenetv1', 'kd')]
    assert [r.top1 for r in rows] == [70.50, 68.58]
    assert published_top1('imagenet', 'resnet50', 'mobilenetv1', 'kd') == 70.50


def test_names_are_the_suites():
    for row in PUBLISHED:
        assert row.dataset in ('cifar100', 'imagenet'), row
        assert row.teacher in ARCHS and row.student in ARCHS, row
        assert row.method in DISTILL_METHODS or row.method in ('teacher', 'baseline'), row
        assert 50 < row.top1 < 90 and row.source, row


def test_every_published_method_has_a_config():
    """A user can rerun every published (pair, method) with the config of the same name."""
    for row in PUBLISHED:
        if row.method == 'teacher':
            name = f'baseline_{row.teacher}.py'
        elif row.method == 'baseline':
            name = f'baseline_{row.student}.py'
        else:
            name = f'{row.method}_{row.teacher}_{row.student}.py'
        assert (CONFIGS / row.dataset / name).is_file(), (row, name)


def test_pairs():
    assert ('imagenet', 'resnet50', 'mobilenetv1') in published_pairs('imagenet')
    assert len(published_pairs('cifar100')) == 7


def test_alone_rows():
    """Teachers / baselines trained alone: one value per architecture across the pairs."""
    assert published_alone_top1('cifar100', 'resnet32x4') == 79.42  # teacher of two pairs
    assert published_alone_top1('cifar100', 'resnet20') == 69.06  # baseline of two pairs
    assert published_alone_top1('cifar100', 'shufflev1') == 70.50
    assert published_alone_top1('imagenet', 'mobilenetv1') == 68.87
    assert published_alone_top1('imagenet', 'resnet34') == 73.31
    assert published_alone_top1('imagenet', 'mobilenetv2') is None
    assert published_alone_top1('cifar100', 'resnet18') is None


def test_dataset_names_of_config_types():
    assert cls_dataset_name('CIFAR100Pickle') == 'cifar100'
    assert cls_dataset_name('ImageFolderCls') == 'imagenet'
    assert cls_dataset_name('VOCDataset') is None and cls_dataset_name(None) is None
