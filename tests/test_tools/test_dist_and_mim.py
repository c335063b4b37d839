"""Real multi-process and ``mim`` runs on CPU, as a user starts them.

* ``bash tools/dist_train.sh CONFIG 2 ...``: two CPU processes on the gloo backend (torchrun),
  for a classification distillation config (given ``--cfg-options`` on the command line) and
  for a Faster R-CNN transfer config (shrunk by ``kd_transfer.tiny.tiny_overrides`` and dumped
  to a file, since a Config object cannot cross the process boundary);
* ``mim train mmdet|mmseg CONFIG --gpus 0``: OpenMMLab's own ``tools/train.py`` of the installed
  mmdet / mmseg, reaching kd_transfer through the configs' ``custom_imports``.

Every run is 2 iterations on 64 x 64 generated images; each process start costs a few
seconds of imports, which dominates the runtime.
"""
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from kd_transfer.testing.helpers import free_port
from kd_transfer.tiny import tiny_overrides

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
MIM = VENV_BIN / 'mim'

#: A hook written into the run's directory and imported through ``custom_imports``: every rank
#: saves its parameters (before and after training) and its losses, so that the test can
#: check that DDP kept the ranks in step although they saw different images.
RANK_STATE_HOOK = '''
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RankStateHook(Hook):
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.losses = []
        self.before = None

    def _params(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        return {k: v.detach().clone() for k, v in model.named_parameters()}

    def before_train(self, runner):
        self.before = self._params(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append(float(outputs['loss']))

    def after_train(self, runner):
        torch.save(dict(before=self.before, after=self._params(runner), losses=self.losses,
                        world_size=runner.world_size, wrapper=type(runner.model).__name__),
                   f'{self.out_dir}/rank{get_rank()}.pth')
'''



def run(cmd, cwd, timeout=240, **env) -> subprocess.CompletedProcess:
    """Run ``cmd`` with one thread per process; return it (output in the assertion message)."""
    full_env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', **env)
    return subprocess.run([str(c) for c in cmd], cwd=str(cwd), env=full_env, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def read_log(work_dir: Path) -> str:
    logs = sorted(work_dir.glob('*/*.log'))
    assert logs, f'no log file under {work_dir}: {sorted(work_dir.rglob("*"))}'
    return logs[-1].read_text()


def tiny_transfer_config(rel: str, data_root: Path, work_dir: Path, out: Path) -> Path:
    """``tiny_overrides`` of a transfer config, saving the last (2nd) iteration, dumped."""
    cfg = tiny_overrides(Config.fromfile(str(REPO / rel)), data_root, work_dir)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=2, by_epoch=False)
    cfg.dump(str(out))
    return out


def cls_cfg_options(cifar_root: Path, num_train: int) -> list:
    """``--cfg-options`` that shrink a CIFAR-100 config to one epoch of ``num_train`` images."""
    opts = ['train_cfg.max_epochs=1', f'train_dataloader.dataset.indices={num_train}',
            'val_dataloader.dataset.indices=4', 'default_hooks.logger.interval=1']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.dataset.data_root={cifar_root}', f'{loader}.batch_size=2',
                 f'{loader}.num_workers=0', f'{loader}.persistent_workers=False']
    return opts


# ----------------------------------------------------------------- tools/dist_train.sh, 2 CPUs
def test_dist_train_classification_two_processes(synthetic_data, tmp_path):
    """FitNets resnet56 -> resnet20 (learnable regressor inside the DDP-wrapped model)."""
    (tmp_path / 'rank_state_hook.py').write_text(RANK_STATE_HOOK)
    base = REPO / 'configs' / 'distill' / 'cifar100' / 'fitnets_resnet56_resnet20.py'
    config = tmp_path / 'fitnets_with_rank_state.py'
    config.write_text(textwrap.dedent(f'''\
        _base_ = [{str(base)!r}]
        custom_imports = dict(imports=['kd_transfer', 'rank_state_hook'],
                              allow_failed_imports=False)
        custom_hooks = [*_base_.custom_hooks,
                        dict(type='RankStateHook', out_dir={str(tmp_path)!r})]
        '''))
    work_dir = tmp_path / 'work'
    # 8 images, 2 per rank and batch: 2 iterations on each of the 2 ranks
    proc = run(['bash', REPO / 'tools' / 'dist_train.sh', config, 2, '--work-dir', work_dir,
                '--cfg-options', 'model.teacher_checkpoint=None',
                *cls_cfg_options(synthetic_data / 'cifar100', 8)],
               cwd=tmp_path, PORT=str(free_port()), PYTHONPATH=str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-6000:]
    log = read_log(work_dir)
    assert re.search(r'Distributed training: True', log) and re.search(r'GPU number: 2', log)
    assert 'Epoch(train) [1][2/2]' in log and 'cls/top1' in log
    assert (work_dir / 'epoch_1.pth').is_file()

    ranks = [torch.load(tmp_path / f'rank{r}.pth', weights_only=True) for r in (0, 1)]
    assert [r['world_size'] for r in ranks] == [2, 2]
    assert {r['wrapper'] for r in ranks} == {'MMDistributedDataParallel'}
    assert ranks[0]['losses'] != ranks[1]['losses']  # the ranks trained on different images
    after0, after1 = ranks[0]['after'], ranks[1]['after']
    assert after0.keys() == after1.keys()
    assert any(k.startswith('distill_losses.0.regressor.') for k in after0)  # FitNets' connector
    for key in after0:
        assert torch.equal(after0[key], after1[key]), f'{key} differs between the ranks'
    moved = [k for k in after0 if not torch.equal(ranks[0]['before'][k], after0[k])]
    assert any(k.startswith('student.') for k in moved), 'training changed no weight'

    # tools/dist_test.sh on the checkpoint: each rank evaluates half of the 32 test images
    # (8 batches of 2) and the metric is computed over all of them
    test_dir = tmp_path / 'test'
    proc = run(['bash', REPO / 'tools' / 'dist_test.sh', config, work_dir / 'epoch_1.pth', 2,
                '--work-dir', test_dir, '--cfg-options', 'model.teacher_checkpoint=None',
                *cls_cfg_options(synthetic_data / 'cifar100', 8)],
               cwd=tmp_path, PORT=str(free_port()), PYTHONPATH=str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-6000:]
    log = read_log(test_dir)
    assert 'GPU number: 2' in log and 'Epoch(test) [8/8]' in log
    assert re.search(r'Epoch\(test\) \[8/8\]\s+cls/top1: [\d.]+\s+cls/top5', log), log[-2000:]


def test_dist_train_detection_two_processes(synthetic_data, tmp_path):
    work_dir = tmp_path / 'work'
    config = tiny_transfer_config('configs/transfer/det/faster-rcnn_resnet18_fpn_voc07.py',
                                  synthetic_data, work_dir, tmp_path / 'tiny_det.py')
    proc = run(['bash', REPO / 'tools' / 'dist_train.sh', config, 2], cwd=tmp_path,
               PORT=str(free_port()))
    assert proc.returncode == 0, proc.stdout[-6000:]
    log = read_log(work_dir)
    assert re.search(r'Distributed training: True', log) and re.search(r'GPU number: 2', log)
    assert 'Iter(train) [2/2]' in log
    assert (work_dir / 'iter_2.pth').is_file()


# ---------------------------------------------------------------------------- mim train
@pytest.mark.parametrize('package,rel', [
    ('mmdet', 'configs/transfer/det/faster-rcnn_resnet8x4_fpn_voc07.py'),
    ('mmseg', 'configs/transfer/seg/deeplabv3plus_mobilenetv2_voc07.py'),
])
def test_mim_train(package, rel, synthetic_data, tmp_path):
    assert MIM.is_file(), f'{MIM} missing: openmim is not installed in the venv'
    work_dir = tmp_path / 'work'
    config = tiny_transfer_config(rel, synthetic_data, work_dir, tmp_path / 'tiny.py')
    proc = run([MIM, 'train', package, config, '--gpus', 0, '--work-dir', work_dir],
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert 'Training finished successfully' in proc.stdout
    assert f'{package}/.mim/tools/train.py' in proc.stdout  # upstream's script, not ours
    log = read_log(work_dir)
    assert 'Iter(train) [2/2]' in log
    assert (work_dir / 'iter_2.pth').is_file()
