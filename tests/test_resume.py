"""Issue 7, item 3: a killed classification distillation run resumes bit for bit.

The ReviewKD-hook detection run's resume is tested in tests/test_hooks/test_reviewkd_hook.py
(``test_resume_restores_abf_and_continues_the_same_loss_curve``).
"""
import signal

import pytest
import torch

from kd_transfer.safe_load import load_checkpoint_file
from kd_transfer.testing import helpers as hh

pytestmark = pytest.mark.usefixtures('one_thread', 'no_leftover_processes')

TRAIN = hh.REPO / 'tools' / 'train.py'


def test_killed_epoch_based_distillation_resumes_bit_for_bit(tmp_path, synthetic_data,
                                                             teacher14):
    """ReviewKD resnet14 -> resnet8 (ABF connectors with BatchNorm, epoch-dependent warm-up),
    2 epochs of 3 iterations, random crop + flip on, ``num_workers=0``,
    ``randomness=dict(seed=0, deterministic=True)``, CPU, one thread.

    Run A trains straight through. Run B (the same config: the schedulers' ``end`` comes from
    ``max_epochs``) is SIGKILLed right after ``epoch_1.pth`` and ``last_checkpoint`` are
    written, then continued with ``tools/train.py --resume``. Both ``epoch_2.pth`` must be
    equal bit for bit: every weight and buffer (student, ABF, teacher), the optimizer's
    momentum buffers, the scheduler and the epoch / iteration counters.

    Without ``RandomStateHook`` (configs/_base_/cls/runtime.py) this fails: the resumed epoch
    draws other crops from the global torch generator (measured: 93 of 202 tensors differ).
    """
    cfg = hh.write_cls_config(tmp_path / 'cfg.py', synthetic_data / 'cifar100', teacher14,
                              method='reviewkd', epochs=2, num_images=12, deterministic=True)
    a, b, marker = tmp_path / 'A', tmp_path / 'B', tmp_path / 'B.epoch1'
    straight = hh.start_tool([TRAIN, cfg, '--work-dir', a], tmp_path / 'A.log')
    killed = hh.start_tool(['-m', 'kd_transfer.testing.helpers', 'stall-after-checkpoint',
                            marker, 1, TRAIN, cfg, '--work-dir', b], tmp_path / 'B.log')
    hh.wait_for(marker, killed)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert (b / 'last_checkpoint').read_text().strip() == str(b / 'epoch_1.pth')
    assert not (b / 'epoch_2.pth').exists()
    hh.finish(straight, tmp_path / 'A.log')
    resumed = hh.start_tool([TRAIN, cfg, '--work-dir', b, '--resume'], tmp_path / 'B2.log')
    hh.finish(resumed, tmp_path / 'B2.log')
    assert 'resumed epoch: 1' in (tmp_path / 'B2.log').read_text()

    want = load_checkpoint_file(str(a / 'epoch_2.pth'))
    got = load_checkpoint_file(str(b / 'epoch_2.pth'))
    assert want['state_dict'].keys() == got['state_dict'].keys()
    assert any(k.startswith('distill_losses.0.abf_chain.') for k in got['state_dict'])
    differ = [k for k, v in want['state_dict'].items() if not torch.equal(v, got['state_dict'][k])]
    assert not differ, f'{len(differ)} tensors differ, e.g. {differ[:3]}'
    for i, state in want['optimizer']['state'].items():
        assert torch.equal(state['momentum_buffer'],
                           got['optimizer']['state'][i]['momentum_buffer'])
    assert want['param_schedulers'] == got['param_schedulers']
    assert (want['meta']['epoch'], want['meta']['iter']) == (got['meta']['epoch'],
                                                              got['meta']['iter']) == (2, 6)
    # not vacuous: the second epoch changed the student and the connectors
    first = load_checkpoint_file(str(b / 'epoch_1.pth'))['state_dict']
    for key in ('student.backbone.conv1.weight', 'distill_losses.0.abf_chain.abfs.0.conv1.0.weight',
                'distill_losses.0.abf_chain.abfs.0.conv1.1.running_mean'):
        assert not torch.equal(first[key], got['state_dict'][key]), key


def test_random_state_hook_round_trip(tmp_path):
    """The states written by ``before_save_checkpoint`` survive a weights_only load and are
    put back by the first epoch after ``resume`` (not after a plain ``load_from``)."""
    import random
    from types import SimpleNamespace

    import numpy as np
    from mmengine.runner import EpochBasedTrainLoop

    from kd_transfer.hooks.random_state import RandomStateHook
    hook = RandomStateHook()
    torch.manual_seed(3)
    ckpt = {}
    hook.before_save_checkpoint(None, ckpt)
    torch.save(ckpt, tmp_path / 'c.pth')
    expected = (torch.rand(3), np.random.rand(2), random.random())
    loop = EpochBasedTrainLoop.__new__(EpochBasedTrainLoop)
    for resume, same in ((False, False), (True, True)):
        torch.manual_seed(4)
        np.random.seed(4)
        runner = SimpleNamespace(_resume=resume, train_loop=loop)
        hook.after_load_checkpoint(runner, load_checkpoint_file(str(tmp_path / 'c.pth')))
        hook.before_train_epoch(runner)
        drawn = (torch.rand(3), np.random.rand(2), random.random())
        assert torch.equal(drawn[0], expected[0]) is same
        if same:
            assert np.array_equal(drawn[1], expected[1]) and drawn[2] == expected[2]
        random.seed(0)


def test_random_state_hook_leaves_iteration_based_loops_alone():
    """mmengine's IterBasedTrainLoop replays the dataloader on resume (so the generator is
    where it was); restoring the state before that replay would shift it."""
    from types import SimpleNamespace

    from mmengine.runner import IterBasedTrainLoop

    from kd_transfer.hooks.random_state import RandomStateHook, get_rng_state
    hook = RandomStateHook()
    torch.manual_seed(5)
    saved = get_rng_state()
    loop = IterBasedTrainLoop.__new__(IterBasedTrainLoop)
    runner = SimpleNamespace(_resume=True, train_loop=loop)
    hook.after_load_checkpoint(runner, {'rng_state': saved})
    torch.manual_seed(6)
    expected = torch.rand(2)
    torch.manual_seed(6)
    hook.before_train_epoch(runner)
    assert torch.equal(torch.rand(2), expected)
