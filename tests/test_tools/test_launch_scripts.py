"""Launch scripts fit for clusters (dist_train.sh / dist_test.sh / slurm_train.sh, launch.py)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
IMAGENET_CFG = REPO / 'configs/distill/imagenet/baseline_resnet18.py'  # num_workers=8


def _fake(path: Path, body: str) -> Path:
    path.write_text('#!/usr/bin/env bash\n' + body)
    path.chmod(0o755)
    return path


@pytest.mark.parametrize('script,args', [('dist_train.sh', ['cfg.py', '8']),
                                         ('dist_test.sh', ['cfg.py', 'm.pth', '8'])])
def test_multi_node_without_master_addr_is_refused(script, args, tmp_path):
    started = tmp_path / 'started'
    fake = _fake(tmp_path / 'python', f'touch {started}\n')
    env = dict(PATH='/usr/bin:/bin', PYTHON=str(fake), NNODES='2', NODE_RANK='0')
    proc = subprocess.run(['bash', str(REPO / 'tools' / script), *args], env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert 'NNODES=2 needs MASTER_ADDR' in proc.stderr
    assert not started.exists()  # torchrun was never started (it would wait for ever)


def test_cpu_fallback_only_on_request(monkeypatch):
    from kd_transfer.launch import setup_cpu_distributed
    if __import__('torch').cuda.is_available():
        pytest.skip('a GPU is visible')
    monkeypatch.delenv('KD_DEVICE', raising=False)
    cfg = Config(dict(launcher='pytorch', model=dict(type='X')))
    with pytest.raises(RuntimeError, match=r'no GPU is visible.*KD_DEVICE=cpu'):
        setup_cpu_distributed(cfg)
    assert 'model_wrapper_cfg' not in cfg  # nothing was set up


def _fake_srun(tmp_path: Path, run: bool = True) -> Path:
    """Records its arguments, then (``run``) runs the task command (from ``bash`` on) as Slurm
    would, with a job id in the environment and a bare PATH on the 'compute node'."""
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    task = ('while [[ "$1" != bash ]]; do shift; done\n'
            'exec env -i PATH=/usr/bin:/bin SLURM_JOB_ID=123456 HOME="$HOME" "$@"\n')
    _fake(bindir / 'srun', f"printf '%s\\n' \"$@\" > {tmp_path}/srun_args\n" + (task if run else ''))
    return bindir


def test_slurm_uses_the_project_python_a_per_job_port_and_enough_cpus(tmp_path):
    bindir = _fake_srun(tmp_path)
    task = _fake(tmp_path / 'task_python',
                 f'echo "MASTER_PORT=$MASTER_PORT" > {tmp_path}/task_env\n'
                 f'printf "%s\\n" "$@" >> {tmp_path}/task_env\n')
    env = dict(os.environ, PATH=f'{bindir}:/usr/bin:/bin', PYTHON=str(task), CPUS_PER_TASK='9')
    env.pop('MASTER_PORT', None)
    proc = subprocess.run(['bash', str(REPO / 'tools/slurm_train.sh'), 'gpu', 'job',
                           str(IMAGENET_CFG), 'wd', '--amp'], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    srun_args = (tmp_path / 'srun_args').read_text().splitlines()
    assert '--cpus-per-task=9' in srun_args
    task_env = (tmp_path / 'task_env').read_text().splitlines()
    assert task_env[0] == f'MASTER_PORT={10000 + 123456 % 50000}'  # 33456: from the job id
    assert task_env[1:] == ['-u', str(REPO / 'tools/train.py'), str(IMAGENET_CFG),
                            '--work-dir=wd', '--launcher', 'slurm', '--amp']
    # the interpreter is named by its absolute path, not looked up on the node's PATH
    assert str(task) in srun_args


def test_slurm_cpus_per_task_cover_the_workers(tmp_path):
    bindir = _fake_srun(tmp_path, run=False)
    # PYTHON is the real interpreter, which reads the config; the task itself is not run
    env = dict(os.environ, PATH=f'{bindir}:/usr/bin:/bin', PYTHON=sys.executable,
               PYTHONPATH=str(REPO))
    env.pop('CPUS_PER_TASK', None)
    subprocess.run(['bash', str(REPO / 'tools/slurm_train.sh'), 'gpu', 'job', str(IMAGENET_CFG),
                    'wd'], env=env,
                   capture_output=True, text=True, timeout=120)
    srun_args = (tmp_path / 'srun_args').read_text().splitlines()
    assert '--cpus-per-task=9' in srun_args  # 8 dataloader workers + the trainer
    assert sys.executable in srun_args or os.path.realpath(sys.executable) in srun_args
