"""Issue 13, items 1 and 15: ``tools/train.py --resume`` never restarts from scratch over an
existing run, a mistyped ``--work-dir`` is an error, another model's checkpoint is refused
clearly, and a misspelt top-level ``--cfg-options`` key is refused.
"""
import os
import time

import pytest
import torch

from kd_transfer.cfg_options import UnknownCfgOptionError
from kd_transfer.resume import ResumeError, find_resume_checkpoint
from kd_transfer.safe_load import load_checkpoint_file
from kd_transfer.strict_load import CheckpointMismatchError

pytestmark = pytest.mark.usefixtures('one_thread', 'no_leftover_processes')


def _touch(path, seconds_ago=0.0):
    path.write_bytes(b'')
    stamp = time.time() - seconds_ago
    os.utime(path, (stamp, stamp))
    return path


def _bytes(work):
    return {p.name: p.read_bytes() for p in sorted(work.glob('*.pth'))}


# ------------------------------------------------------------------ choosing the checkpoint
def test_newest_by_number_not_by_name_or_mtime(tmp_path):
    """epoch_10 is newer than epoch_9 although it sorts before it and is older on disk."""
    _touch(tmp_path / 'epoch_10.pth', seconds_ago=100)
    _touch(tmp_path / 'epoch_9.pth')
    _touch(tmp_path / 'best_cls_top1_epoch_9.pth')
    path, note = find_resume_checkpoint(str(tmp_path))
    assert path == str(tmp_path / 'epoch_10.pth')
    assert 'no last_checkpoint' in note and 'epoch_10.pth' in note


def test_last_checkpoint_is_used_when_it_names_a_file(tmp_path):
    _touch(tmp_path / 'iter_4.pth')
    _touch(tmp_path / 'iter_6.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_4.pth'))
    assert find_resume_checkpoint(str(tmp_path)) == (str(tmp_path / 'iter_4.pth'), None)
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'gone' / 'iter_8.pth'))
    path, note = find_resume_checkpoint(str(tmp_path))
    assert path == str(tmp_path / 'iter_6.pth') and 'does not exist' in note


def test_refuses_without_a_checkpoint_or_with_both_kinds(tmp_path):
    with pytest.raises(ResumeError, match=rf"work dir '{tmp_path / 'typo'}' does not exist.*"
                                          'mistyped'):
        find_resume_checkpoint(str(tmp_path / 'typo'))
    _touch(tmp_path / 'best_cls_top1_epoch_3.pth')
    with pytest.raises(ResumeError, match=rf"work dir '{tmp_path}' holds no checkpoint to "
                                          r'resume from.*best_cls_top1_epoch_3\.pth'):
        find_resume_checkpoint(str(tmp_path))
    _touch(tmp_path / 'epoch_2.pth')
    _touch(tmp_path / 'iter_50.pth')
    with pytest.raises(ResumeError, match=r'both epoch_<N>\.pth and iter_<N>\.pth.*--resume PATH'):
        find_resume_checkpoint(str(tmp_path))


# ------------------------------------------------------------------- through tools/train.py
def test_resume_without_last_checkpoint_continues_and_keeps_the_checkpoints(
        train_tool, cls_config, tmp_path):
    """A 2-epoch run; ``last_checkpoint`` is lost and epoch_1.pth is the newest file on disk.
    ``--resume`` with a 3-epoch schedule must continue from epoch_2.pth (mmengine alone:
    "Auto resumed from the latest checkpoint None", a new run from scratch that rewrites
    epoch_1.pth and epoch_2.pth)."""
    cfg, work = cls_config(epochs=3, num_images=8), tmp_path / 'work'
    train_tool.main([str(cfg), '--work-dir', str(work), '--cfg-options',
                     'train_cfg.max_epochs=2'])
    (work / 'last_checkpoint').unlink()
    os.utime(work / 'epoch_1.pth')  # the newest file by mtime
    before = _bytes(work)
    assert set(before) == {'epoch_1.pth', 'epoch_2.pth'}
    train_tool.main([str(cfg), '--work-dir', str(work), '--resume'])
    assert _bytes(work)['epoch_1.pth'] == before['epoch_1.pth']
    assert _bytes(work)['epoch_2.pth'] == before['epoch_2.pth']
    third = load_checkpoint_file(str(work / 'epoch_3.pth'))
    assert (third['meta']['epoch'], third['meta']['iter']) == (3, 6)  # 2 x 2 iterations + 2


def test_resume_into_a_mistyped_work_dir_is_an_error(train_tool, cls_config, tmp_path):
    typo = tmp_path / 'wrok'
    with pytest.raises(ResumeError, match=rf"--resume: work dir '{typo}' does not exist"):
        train_tool.main([str(cls_config(iters=1)), '--work-dir', str(typo), '--resume'])
    assert not typo.exists()
    typo.mkdir()
    with pytest.raises(ResumeError, match=rf"work dir '{typo}' holds no checkpoint"):
        train_tool.main([str(cls_config(iters=1)), '--work-dir', str(typo), '--resume'])
    assert list(typo.iterdir()) == []


def test_resume_with_another_models_checkpoint_is_refused(train_tool, cls_config, tmp_path):
    """The resnet8 student's checkpoint resumed into a resnet14 student (mmengine alone: a
    warning, then a traceback from the optimizer's state)."""
    cfg, work = cls_config(iters=2), tmp_path / 'work'
    train_tool.main([str(cfg), '--work-dir', str(work)])
    before = _bytes(work)
    with pytest.raises(CheckpointMismatchError,
                       match=r"checkpoint '.*iter_2\.pth' does not fit the model of the config "
                             r'\(Distiller\): \d+ missing \[student\.backbone\..*\d+ unexpected '
                             r'.*\d+ mis-shaped .*Nothing was loaded'):
        train_tool.main([str(cfg), '--work-dir', str(work), '--resume', '--allow-model-change',
                         '--cfg-options', 'model.student.backbone.depth=14',
                         'train_cfg.max_iters=3'])
    assert _bytes(work) == before


# ------------------------------------------------------------------------- --cfg-options
def test_misspelt_top_level_cfg_option_is_refused(train_tool, cls_config, tmp_path):
    """``train_cgf.max_iters=1`` (mmengine alone adds a new key and the whole schedule runs)."""
    work = tmp_path / 'work'
    with pytest.raises(UnknownCfgOptionError,
                       match=r"'train_cgf\.max_iters' \('train_cgf' is not a key of the config; "
                             r"did you mean 'train_cfg'"):
        train_tool.main([str(cls_config(iters=2)), '--work-dir', str(work), '--cfg-options',
                         'train_cgf.max_iters=1'])
    assert not work.exists()


def test_cfg_options_of_existing_and_runner_keys_are_accepted():
    from mmengine.config import Config

    from kd_transfer.cfg_options import check_cfg_options
    cfg = Config(dict(model=dict(type='X'), train_cfg=dict(max_epochs=2), data_root='d'))
    check_cfg_options(cfg, {'model.backbone.depth': 3, 'train_cfg.val_interval': 1,
                            'data_root': 'e', 'load_from': 'x.pth', 'randomness.seed': 1,
                            'custom_hooks': []})
    with pytest.raises(UnknownCfgOptionError, match=r"'modle'.*did you mean 'model'"):
        check_cfg_options(cfg, {'modle.backbone.depth': 3})
    with pytest.raises(UnknownCfgOptionError, match=r"'zzz' is not a key of the config\)"):
        check_cfg_options(cfg, {'zzz': 1})


def test_resume_with_its_own_checkpoint_still_works(train_tool, cls_config, tmp_path):
    """Control: the strict check accepts the run's own checkpoint (num_batches_tracked and
    the teacher included)."""
    cfg, work = cls_config(iters=2), tmp_path / 'work'
    train_tool.main([str(cfg), '--work-dir', str(work)])
    train_tool.main([str(cfg), '--work-dir', str(work), '--resume', '--cfg-options',
                     'train_cfg.max_iters=3'])
    ckpt = load_checkpoint_file(str(work / 'iter_3.pth'))
    assert ckpt['meta']['iter'] == 3
    assert torch.equal(ckpt['state_dict']['teacher.backbone.conv1.weight'],
                       load_checkpoint_file(str(work / 'iter_2.pth'))['state_dict'][
                           'teacher.backbone.conv1.weight'])
