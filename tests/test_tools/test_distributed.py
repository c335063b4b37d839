"""Issue 7, item 4: 2-process (gloo) and 1-process training agree, connectors included.

FitNets resnet14 -> resnet8: the regressor (conv + BatchNorm) is a learnable connector that
lives inside the Distiller, i.e. inside the module DDP wraps, so its gradients must be
averaged across ranks like the student's.
"""

import pytest
import torch

from kd_transfer.safe_load import load_checkpoint_file
from kd_transfer.testing import helpers as hh

pytestmark = pytest.mark.usefixtures('one_thread', 'no_leftover_processes')

#: float32 sums of 2 + 2 samples all-reduced vs. 4 samples at once: measured max |diff| of
#: 3e-8 after 3 SGD steps; one step moves the weights by > 1e-4.
ATOL, RTOL = 1e-6, 1e-5



def test_two_gloo_processes_match_one_process_with_the_same_total_batch(
        tmp_path, synthetic_data, teacher14, free_port):
    """``tools/dist_train.sh CFG 2`` with 2 images per rank vs ``tools/train.py CFG`` with 4.

    Data order: ``DefaultSampler(shuffle=False)`` gives rank r the indices r, r+2, ..., so
    step k sees images {4k, 4k+2} on rank 0 and {4k+1, 4k+3} on rank 1: the single process's
    batch {4k..4k+3}. Augmentation is off (each process has its own generator).

    BatchNorm: DDP does not synchronise batch statistics, and torch's SyncBatchNorm refuses
    CPU tensors, so with BN in train mode each rank would normalise by the statistics of its
    2 images and the runs could not agree. ``HardeningFrozenBNHook`` keeps every BN layer
    (student, teacher, regressor) in eval mode: each sample's forward no longer depends on the
    rest of the batch, the loss is a mean over samples, and the DDP average of the two ranks'
    gradients equals the single process's gradient. Per-rank gradients differ (different
    images), so a parameter that DDP did not average would follow rank 0 alone and miss the
    tolerance by orders of magnitude.
    """
    extra = ("custom_imports = dict(imports=['kd_transfer', 'kd_transfer.testing.helpers'], "
             'allow_failed_imports=False)\n'
             "custom_hooks = [dict(type='FiniteLossHook'), dict(type='HardeningFrozenBNHook')]\n")
    cfg = hh.write_cls_config(tmp_path / 'cfg.py', synthetic_data / 'cifar100', teacher14,
                              method='fitnets', iters=3, num_images=12, batch_size=4, lr=0.002,
                              augment=False, shuffle=False, deterministic=True, extra=extra)
    two = hh.start_command(['bash', hh.REPO / 'tools' / 'dist_train.sh', cfg, 2, '--work-dir',
                            tmp_path / 'two', '--cfg-options', 'train_dataloader.batch_size=2'],
                           tmp_path / 'two.log', PORT=str(free_port))
    one = hh.start_tool([hh.REPO / 'tools' / 'train.py', cfg, '--work-dir', tmp_path / 'one'],
                        tmp_path / 'one.log')
    hh.finish(one, tmp_path / 'one.log')
    hh.finish(two, tmp_path / 'two.log')
    assert 'Distributed training: True' in (tmp_path / 'two.log').read_text()

    one3 = load_checkpoint_file(str(tmp_path / 'one' / 'iter_3.pth'))['state_dict']
    two3 = load_checkpoint_file(str(tmp_path / 'two' / 'iter_3.pth'))['state_dict']
    assert one3.keys() == two3.keys()
    assert any(k.startswith('distill_losses.0.regressor.') for k in one3)
    for key, value in one3.items():
        torch.testing.assert_close(two3[key], value, atol=ATOL, rtol=RTOL, msg=key)
    # a step is far larger than the tolerance (the comparison can fail)
    one2 = load_checkpoint_file(str(tmp_path / 'one' / 'iter_2.pth'))['state_dict']
    for key in ('distill_losses.0.regressor.0.weight', 'student.backbone.conv1.weight'):
        assert (one3[key] - one2[key]).abs().max() > 100 * ATOL, key
