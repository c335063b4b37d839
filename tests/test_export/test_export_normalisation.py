"""The exported backbone records its student's normalisation; loading it under another is refused.

Expected values are written out from the code bases' own transforms:
* torchvision: Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)) x 255;
* RepDistiller dataset/cifar100.py and mdistiller mdistiller/dataset/cifar100.py:
  Normalize((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)) x 255;
* kd_transfer: the student's data_preprocessor in the config stored in the checkpoint.
"""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from kd_transfer.export import ExportError, export_backbone
from kd_transfer.models import build_arch

REPO = Path(__file__).resolve().parents[2]
IMAGENET = ([123.675, 116.28, 103.53], [58.395, 57.12, 57.375])
CIFAR_UPSTREAM = ([129.3105, 124.1085, 112.404], [68.2125, 65.4075, 70.4055])


def norm_of(path) -> dict:
    return torch.load(path, weights_only=True)['meta']['kd_transfer']['normalisation']


def test_torchvision_import_records_imagenet(tmp_path):
    src = tmp_path / 'tv.pth'
    torch.save(build_arch('resnet18').state_dict(), src)
    export_backbone(str(src), str(tmp_path / 'out.pth'))
    norm = norm_of(tmp_path / 'out.pth')
    assert norm['mean'] == pytest.approx(IMAGENET[0]) and norm['std'] == pytest.approx(IMAGENET[1])
    assert norm['channel_order'] == 'RGB' and 'torchvision' in norm['from']


@pytest.mark.parametrize('layout', ['repdistiller', 'mdistiller'])
def test_cifar_imports_record_the_upstream_statistics(tmp_path, layout):
    src = tmp_path / 'src.pth'
    state = build_arch('resnet8x4').state_dict()
    torch.save({'model': state, 'epoch': 240, 'best_acc': 70.0} if layout == 'repdistiller'
               else {'model': state}, src)
    export_backbone(str(src), str(tmp_path / 'out.pth'))
    norm = norm_of(tmp_path / 'out.pth')
    assert norm['mean'] == pytest.approx(CIFAR_UPSTREAM[0], abs=1e-4)
    assert norm['std'] == pytest.approx(CIFAR_UPSTREAM[1], abs=1e-4)
    assert norm['channel_order'] == 'RGB' and layout in norm['from']


def _kd_checkpoint(path, preprocessor: str):
    state = {f'backbone.{k}': v for k, v in build_arch('resnet20').state_dict().items()}
    cfg = ("model = dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=20)"
           + preprocessor + ")\n")
    torch.save({'state_dict': state, 'meta': {'cfg': cfg}}, path)


def test_kd_transfer_records_the_config_preprocessor(tmp_path):
    _kd_checkpoint(tmp_path / 'a.pth', ", data_preprocessor=dict(type='ImgDataPreprocessor', "
                   "mean=[1.0, 2.0, 3.0], std=[4.0, 5.0, 6.0], bgr_to_rgb=True)")
    export_backbone(str(tmp_path / 'a.pth'), str(tmp_path / 'a_out.pth'))
    norm = norm_of(tmp_path / 'a_out.pth')
    assert (norm['mean'], norm['std'], norm['channel_order']) == ([1, 2, 3], [4, 5, 6], 'BGR')
    # no data_preprocessor: KDClassifier's default, configs/_base_/cls/cifar100.py's statistics
    _kd_checkpoint(tmp_path / 'b.pth', '')
    export_backbone(str(tmp_path / 'b.pth'), str(tmp_path / 'b_out.pth'))
    norm = norm_of(tmp_path / 'b_out.pth')
    assert norm['mean'] == [129.304, 124.07, 112.434] and norm['std'] == [68.17, 65.392, 70.418]


def test_explicit_flags_override_and_must_come_in_pairs(tmp_path):
    src = tmp_path / 'tv.pth'
    torch.save(build_arch('resnet18').state_dict(), src)
    export_backbone(str(src), str(tmp_path / 'out.pth'), mean=[10, 20, 30], std=[1, 2, 3],
                    channel_order='BGR')
    norm = norm_of(tmp_path / 'out.pth')
    assert (norm['mean'], norm['std'], norm['channel_order']) == ([10, 20, 30], [1, 2, 3], 'BGR')
    with pytest.raises(ExportError, match='--mean and --std'):
        export_backbone(str(src), str(tmp_path / 'out2.pth'), mean=[10, 20, 30])
    assert not (tmp_path / 'out2.pth').exists()


def test_cli_flags(tmp_path, capsys):
    import importlib.util
    spec = importlib.util.spec_from_file_location('eb', REPO / 'tools' / 'export_backbone.py')
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    src = tmp_path / 'tv.pth'
    torch.save(build_arch('resnet18').state_dict(), src)
    assert cli.main([str(src), str(tmp_path / 'o.pth'), '--mean', '1', '2', '3', '--std', '4',
                     '5', '6']) == 0
    assert 'normalisation mean [1.000, 2.000, 3.000]' in capsys.readouterr().out
    assert norm_of(tmp_path / 'o.pth')['mean'] == [1, 2, 3]


# ------------------------------------------------------------------- load-time check
def _detector(rel: str, checkpoint, **pre):
    cfg = Config.fromfile(str(REPO / rel))
    cfg.model.backbone.init_cfg.checkpoint = str(checkpoint)
    cfg.model.data_preprocessor.update(pre)
    from mmengine.registry import MODELS
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return MODELS.build(cfg.model), cfg


@pytest.fixture(scope='module')
def cifar_export(tmp_path_factory):
    root = tmp_path_factory.mktemp('norm')
    src = root / 'rd.pth'
    torch.save({'model': build_arch('resnet8x4').state_dict(), 'epoch': 1}, src)
    export_backbone(str(src), str(root / 'resnet8x4.pth'))
    return root / 'resnet8x4.pth'


def test_matching_normalisation_loads(cifar_export):
    model, _ = _detector('configs/transfer/det/faster-rcnn_resnet8x4_fpn_voc07.py', cifar_export)
    model.init_weights()
    want = torch.load(cifar_export, weights_only=True)['state_dict']['conv1.weight']
    assert torch.equal(model.backbone.conv1.weight, want)


def test_imagenet_preprocessor_with_a_cifar_backbone_is_refused(cifar_export):
    model, _ = _detector('configs/transfer/det/faster-rcnn_resnet8x4_fpn_voc07.py', cifar_export,
                         mean=IMAGENET[0], std=IMAGENET[1])
    with pytest.raises(ValueError) as err:
        model.init_weights()
    msg = str(err.value)
    assert 'mean [129.31' in msg and 'std [68.21' in msg  # recorded (RepDistiller's)
    assert 'mean [123.675, 116.280, 103.530]' in msg  # the model's
    assert 'allow_norm_mismatch=True' in msg and str(cifar_export) in msg


def test_channel_order_mismatch_is_refused(cifar_export):
    model, _ = _detector('configs/transfer/det/faster-rcnn_resnet8x4_fpn_voc07.py', cifar_export,
                         bgr_to_rgb=False)
    with pytest.raises(ValueError, match=r'\(BGR'):
        model.init_weights()


def test_opt_out(cifar_export):
    cfg = Config.fromfile(str(REPO / 'configs/transfer/det/faster-rcnn_resnet8x4_fpn_voc07.py'))
    cfg.model.backbone.init_cfg.update(checkpoint=str(cifar_export), allow_norm_mismatch=True)
    cfg.model.data_preprocessor.update(mean=IMAGENET[0], std=IMAGENET[1])
    from mmengine.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    want = torch.load(cifar_export, weights_only=True)['state_dict']['conv1.weight']
    assert torch.equal(model.backbone.conv1.weight, want)


def test_segmentor_is_checked_too(cifar_export):
    cfg = Config.fromfile(str(REPO / 'configs/transfer/seg/deeplabv3plus_resnet8x4_voc07.py'))
    cfg.model.backbone.init_cfg.checkpoint = str(cifar_export)
    cfg.model.data_preprocessor.update(mean=IMAGENET[0], std=IMAGENET[1])
    from mmengine.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
    with pytest.raises(ValueError, match='allow_norm_mismatch'):
        model.init_weights()
