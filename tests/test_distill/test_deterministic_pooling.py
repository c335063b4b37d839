"""Deterministic mode (``randomness.deterministic=True``) on GPU.

CUDA's adaptive average pooling backward raises under ``torch.use_deterministic_algorithms``;
AT, ReviewKD's HCL and GLD pool feature maps. The CUDA refusal is reproduced on CPU by a
stand-in ``F.adaptive_avg_pool2d`` that raises as CUDA does (deterministic mode, input that
needs a gradient); the suite's pooling must equal torch's own adaptive pooling.
"""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kd_transfer.distill.at import ATLoss
from kd_transfer.distill.base import adaptive_avg_pool2d
from kd_transfer.distill.gld import GLDLoss
from kd_transfer.distill.reviewkd import hcl_loss

_torch_pool = F.adaptive_avg_pool2d


@pytest.fixture
def deterministic_cuda_like(monkeypatch):
    def refuse(x, size):
        if torch.are_deterministic_algorithms_enabled() and x.requires_grad:
            raise RuntimeError('adaptive_avg_pool2d_backward_cuda does not have a deterministic '
                               'implementation')
        return _torch_pool(x, size)
    monkeypatch.setattr(F, 'adaptive_avg_pool2d', refuse)
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(False)


@pytest.mark.parametrize('shape,size', [((7, 7), (2, 2)), ((7, 9), (3, 2)), ((5, 5), (4, 4)),
                                        ((8, 8), (4, 4)), ((6, 10), (1, 1))])
def test_pooling_equals_torch_adaptive_pooling(shape, size, deterministic_cuda_like):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, *shape, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 3, *size, generator=g, dtype=torch.float64)
    ours = adaptive_avg_pool2d(x, size)
    (grad_ours, ) = torch.autograd.grad((ours * w).sum(), x)
    torch.use_deterministic_algorithms(False)
    ref = _torch_pool(x, size)
    (grad_ref, ) = torch.autograd.grad((ref * w).sum(), x)
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(grad_ours, grad_ref)


def test_losses_backward_in_deterministic_mode(deterministic_cuda_like):
    g = torch.Generator().manual_seed(0)
    fs = torch.randn(2, 8, 7, 7, generator=g, requires_grad=True)
    ft = torch.randn(2, 8, 7, 7, generator=g)
    hcl_loss([fs], [ft]).backward()  # pools 7x7 to 4x4, 2x2, 1x1
    at = ATLoss(stages=[(0, 0)])
    s5 = torch.randn(2, 8, 7, 7, generator=g, requires_grad=True)
    at({'stages': [s5]}, {'stages': [torch.randn(2, 8, 5, 5, generator=g)]}, None, 1,
       None, None)['loss_at'].backward()  # pools the student's 7x7 to 5x5
    cls = nn.Linear(8, 10)
    gld = GLDLoss(div=2)
    fm = torch.randn(2, 8, 7, 7, generator=g, requires_grad=True)
    out = gld({'feat_map': fm, 'logits': cls(fm.mean((2, 3)))},
              {'feat_map': torch.randn(2, 8, 7, 7, generator=g), 'logits': torch.randn(2, 10)},
              None, 1, cls, cls)
    sum(out.values()).backward()
    assert fs.grad is not None and s5.grad is not None and fm.grad is not None


def test_deterministic_config_sets_cublas_workspace(tmp_path, monkeypatch):
    """cuBLAS needs CUBLAS_WORKSPACE_CONFIG for deterministic results; set before CUDA starts."""
    import argparse

    from kd_transfer.launch import load_config
    monkeypatch.delenv('CUBLAS_WORKSPACE_CONFIG', raising=False)
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text("randomness = dict(seed=0, deterministic=True)\n")
    args = argparse.Namespace(config=str(cfg_file), cfg_options={}, launcher='none',
                              work_dir=str(tmp_path / 'w'), local_rank=0)
    load_config(args)
    import os
    assert os.environ['CUBLAS_WORKSPACE_CONFIG'] == ':4096:8'
