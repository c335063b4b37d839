"""Dataset checks run once, on rank 0, and every rank gets the verdict (2 gloo processes)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

_SCRIPT = r'''
import json, os, sys
import torch.distributed as dist
from mmengine.config import Config
from kd_transfer.launch import on_rank0
out, mode = sys.argv[1], sys.argv[2]
dist.init_process_group('gloo')
rank = dist.get_rank()

def check(cfg, loaders, on_bad):
    open(os.path.join(out, f'ran_on_{rank}'), 'w').close()
    if mode == 'fail':
        raise FileNotFoundError("train_dataloader.dataset (VOCDataset): data_root 'x' does not exist")
    cfg.train_dataloader.dataset.ann_file = 'checked_annotations/Main_trainval.txt'
    return {'trainval.txt': 2}

cfg = Config(dict(train_dataloader=dict(dataset=dict(type='VOCDataset', ann_file='a.txt'))))
try:
    result = on_rank0(cfg, check, ('train_dataloader', ), 'skip')
    verdict = dict(result=result, ann_file=cfg.train_dataloader.dataset.ann_file)
except Exception as err:
    verdict = dict(error=type(err).__name__, message=str(err))
json.dump(verdict, open(os.path.join(out, f'verdict_{rank}.json'), 'w'))
dist.destroy_process_group()
'''


def _run(tmp_path, mode, port):
    import json
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    script = tmp_path / 'check.py'
    script.write_text(_SCRIPT)
    proc = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
                           '--master_addr=127.0.0.1', f'--master_port={port}', str(script), str(tmp_path), mode], env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads((tmp_path / f'verdict_{r}.json').read_text()) for r in (0, 1)]


def test_check_runs_on_rank0_and_its_changes_reach_every_rank(tmp_path, free_port):
    verdicts = _run(tmp_path, 'skip', free_port)
    assert (tmp_path / 'ran_on_0').exists() and not (tmp_path / 'ran_on_1').exists()
    for v in verdicts:
        assert v == dict(result={'trainval.txt': 2},
                         ann_file='checked_annotations/Main_trainval.txt')


def test_rank0_error_is_raised_on_every_rank(tmp_path, free_port):
    v0, v1 = _run(tmp_path, 'fail', free_port)
    assert not (tmp_path / 'ran_on_1').exists()
    assert v0['error'] == v1['error'] == 'FileNotFoundError'
    assert "data_root 'x' does not exist" in v0['message'] and v1['message'].endswith(
        v0['message'])
