"""Cases found by re-running the hardening pass (issue 13) against the merged main."""
import argparse

import pytest
import torch

pytestmark = pytest.mark.usefixtures('one_thread', 'no_leftover_processes')


def test_export_refuses_a_normalisation_on_the_0_1_scale():
    from kd_transfer.normalisation import record
    with pytest.raises(ValueError, match=r'0-1 scale.*multiply by 255'):
        record([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    assert record([123.675, 116.28, 103.53], [58.395, 57.12, 57.375])['mean'][0] == 123.675


def test_pretrained_backbone_with_nan_is_named(tmp_path):
    """A NaN in an exported backbone's BN buffer: training stopped at iteration 1 with advice to
    lower the learning rate, without naming the file."""
    from kd_transfer.pretrained_init import StrictPretrainedInit
    from kd_transfer.models import build_arch
    net = build_arch('resnet8')
    state = {k: v.clone() for k, v in net.state_dict().items()}
    state['bn1.running_var'][0] = float('nan')
    path = tmp_path / 'bb_nan.pth'
    torch.save({'state_dict': state}, path)
    with pytest.raises(ValueError, match=r"bb_nan\.pth' holds NaN/Inf in 1 tensor.*bn1\.running_var"):
        StrictPretrainedInit(checkpoint=str(path))(build_arch('resnet8'))


def test_work_dir_that_is_a_file_is_refused(tmp_path):
    from kd_transfer.launch import load_config
    cfg = tmp_path / 'cfg.py'
    cfg.write_text('x = 1\n')
    afile = tmp_path / 'afile'
    afile.write_text('')
    args = argparse.Namespace(config=str(cfg), cfg_options={}, launcher='none',
                              work_dir=str(afile), local_rank=0)
    with pytest.raises(NotADirectoryError, match='afile.*not a directory'):
        load_config(args)


def test_transfer_config_out_dir_that_is_a_file_is_refused(tmp_path):
    from kd_transfer.transfer_config import TransferConfigError, write_transfer_configs
    afile = tmp_path / 'afile'
    afile.write_text('')
    with pytest.raises(TransferConfigError, match='not a directory'):
        write_transfer_configs(str(tmp_path / 'missing.pth'), str(afile))
