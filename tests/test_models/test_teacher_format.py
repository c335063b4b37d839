"""A frozen teacher runs channels-last on the CPU (kd_transfer.models.teacher_format)."""
import copy

import torch
from torch import nn
from torchvision.models import resnet18

from kd_transfer.models.teacher_format import teacher_input, wants_channels_last


def _spatial_conv_weights(module):
    return [m.weight for m in module.modules()
            if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)]


def _channels_last(module) -> bool:
    weights = _spatial_conv_weights(module)
    assert weights
    return all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
               for w in weights)


def test_cpu_default_converts_once_and_torchvision_outputs_are_unchanged():
    torch.manual_seed(0)
    plain = resnet18(num_classes=10).eval()
    teacher = copy.deepcopy(plain)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = plain(x)  # torchvision's own model, plain format
        fast_x = teacher_input(teacher, x, None)
        got = teacher(fast_x)
    assert fast_x.is_contiguous(memory_format=torch.channels_last) and not fast_x.is_contiguous()
    assert x.is_contiguous()  # the caller's batch is left as it was
    assert _channels_last(teacher) and not _channels_last(plain)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    weight = teacher.conv1.weight
    teacher_input(teacher, x, None)  # converted once: the parameter is not replaced again
    assert teacher.conv1.weight is weight


def test_off_keeps_the_plain_format_and_non_4d_inputs_pass_through():
    teacher = resnet18(num_classes=10).eval()
    x = torch.randn(2, 3, 32, 32)
    assert teacher_input(teacher, x, False) is x
    vec = torch.randn(2, 3)
    assert teacher_input(teacher, vec, True) is vec
    assert not _channels_last(teacher)


def test_auto_leaves_a_gpu_teacher_alone():
    # the condition of a GPU run on the CPU: a batch on another device than the CPU
    teacher = resnet18(num_classes=10).eval()
    x = torch.empty(2, 3, 32, 32, device='meta')
    assert not wants_channels_last(None, x)
    assert teacher_input(teacher, x, None) is x
    assert not _channels_last(teacher)
    assert wants_channels_last(True, x)  # asked for explicitly: converted on any device
    assert teacher_input(teacher, x, True).is_contiguous(memory_format=torch.channels_last)
    assert _channels_last(teacher)
