"""MobileNet V1 checkpoints in the public layout (official ReviewKD ImageNet/models/mobilenet.py
= mdistiller mdistiller/models/imagenet/mobilenetv1.py) load and export."""
from collections import OrderedDict

import torch

from kd_transfer.export import export_backbone
from kd_transfer.models import build_arch

# The public MobileNet: conv_bn(3, 32, 2), then conv_dw(in, out, stride) x 13, AvgPool2d(7), fc.
_DW = [(32, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512)] + \
    [(512, 512)] * 5 + [(512, 1024), (1024, 1024)]


def _bn(state, prefix, c, gen):
    state[f'{prefix}.weight'] = torch.rand(c, generator=gen) + 0.5
    state[f'{prefix}.bias'] = torch.randn(c, generator=gen)
    state[f'{prefix}.running_mean'] = torch.randn(c, generator=gen)
    state[f'{prefix}.running_var'] = torch.rand(c, generator=gen) + 0.5
    state[f'{prefix}.num_batches_tracked'] = torch.tensor(7)


def public_state(seed=0):
    """The public module's state_dict keys and shapes, written out from its definition."""
    gen = torch.Generator().manual_seed(seed)
    state = OrderedDict()
    state['model.0.0.weight'] = torch.randn(32, 3, 3, 3, generator=gen)
    _bn(state, 'model.0.1', 32, gen)
    for i, (cin, cout) in enumerate(_DW, start=1):
        state[f'model.{i}.0.weight'] = torch.randn(cin, 1, 3, 3, generator=gen)
        _bn(state, f'model.{i}.1', cin, gen)
        state[f'model.{i}.3.weight'] = torch.randn(cout, cin, 1, 1, generator=gen)
        _bn(state, f'model.{i}.4', cout, gen)
    state['fc.weight'] = torch.randn(1000, 1024, generator=gen)
    state['fc.bias'] = torch.randn(1000, generator=gen)
    return state


def test_public_checkpoint_loads_strictly():
    model = build_arch('mobilenetv1')
    state = public_state()
    assert list(model.state_dict()) == list(state)
    model.load_state_dict(state, strict=True)


def test_mdistiller_student_file_exports(tmp_path):
    state = public_state(1)
    src = tmp_path / 'student_best'
    torch.save({'model': state}, src)  # mdistiller's student_* files
    out = tmp_path / 'mv1.pth'
    summary = export_backbone(str(src), str(out))
    assert summary['arch'] == 'mobilenetv1'
    ckpt = torch.load(out, weights_only=True)
    assert ckpt['meta']['kd_transfer']['source_format'] == 'mdistiller'
    want = {k: v for k, v in state.items() if not k.startswith('fc.')}
    assert sorted(ckpt['state_dict']) == sorted(want)
    for k, v in want.items():
        assert torch.equal(ckpt['state_dict'][k], v), k
    backbone = build_arch('mobilenetv1', out_indices=(0, 1, 2, 3))
    backbone.load_state_dict({**ckpt['state_dict'], 'fc.weight': state['fc.weight'],
                              'fc.bias': state['fc.bias']}, strict=True)
    outs = backbone.eval()(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [128, 256, 512, 1024]
    assert [64 // o.shape[-1] for o in outs] == [4, 8, 16, 32]
