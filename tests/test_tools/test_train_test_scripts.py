"""tools/train.py, tools/test.py, tools/dist_train.sh, tools/dist_test.sh: arguments, errors,
and a real train -> test round trip on a tiny CIFAR-100 classifier (in-process)."""
import importlib.util
import os.path as osp
import re
import subprocess
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / 'configs' / 'distill' / 'cifar100' / 'baseline_resnet20.py')


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(f'kd_transfer_tool_{name}',
                                                  REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def train_tool():
    return _load_tool('train')


@pytest.fixture(scope='module')
def test_tool():
    return _load_tool('test')


class FakeRunner:
    """Stands in for the Runner: records the final config instead of running it."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.called = None

    def train(self):
        self.called = 'train'

    def test(self):
        self.called = 'test'


@pytest.fixture
def captured(monkeypatch, train_tool, test_tool, tmp_path):
    """Replace ``build_runner`` and the data checks (kd_transfer.datasets.config_checks, tested
    on their own) in both tools; returns the list of FakeRunners built, each with the loaders
    checked."""
    runners, checked = [], []

    def build_runner(cfg):
        runners.append(FakeRunner(cfg))
        runners[-1].checked = list(checked)
        return runners[-1]

    def check_datasets(cfg, loaders, on_bad_annotation):
        checked.append((tuple(loaders), on_bad_annotation))

    for tool in (train_tool, test_tool):
        monkeypatch.setattr(tool, 'build_runner', build_runner)
        monkeypatch.setattr(tool, 'check_datasets', check_datasets)
    for tool in (train_tool, test_tool):
        monkeypatch.setattr(tool, 'check_not_empty', lambda runner, *loaders: None)
    monkeypatch.chdir(tmp_path)  # the default ./work_dirs would land here (nothing is written)
    return runners


# ------------------------------------------------------------------------------ tools/train.py
def test_train_missing_config_names_it(train_tool, tmp_path):
    missing = str(tmp_path / 'no_such_config.py')
    with pytest.raises(FileNotFoundError, match='no_such_config.py'):
        train_tool.main([missing])


def test_train_defaults(train_tool, captured):
    train_tool.main([CONFIG])
    (runner,) = captured
    cfg = runner.cfg
    assert runner.called == 'train'
    assert cfg.work_dir == osp.join('./work_dirs', 'baseline_resnet20')
    assert cfg.launcher == 'none' and cfg.resume is False and cfg.load_from is None
    assert cfg.optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper'
    assert runner.checked == [(('train_dataloader', 'val_dataloader'), 'fail')]


def test_train_cfg_options_and_work_dir(train_tool, captured, tmp_path):
    train_tool.main([CONFIG, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                     'train_cfg.max_epochs=3', 'optim_wrapper.optimizer.lr=0.123',
                     'model.backbone.depth=32', 'train_dataloader.dataset.indices=4'])
    cfg = captured[0].cfg
    assert cfg.work_dir == str(tmp_path / 'w')
    assert cfg.train_cfg.max_epochs == 3 and cfg.optim_wrapper.optimizer.lr == 0.123
    assert cfg.model.backbone == dict(type='CifarResNet', depth=32)
    assert cfg.train_dataloader.dataset.indices == 4
    assert cfg.optim_wrapper.optimizer.momentum == 0.9  # the rest of the config is kept


def test_train_resume_without_path_resumes_the_latest(train_tool, captured, tmp_path):
    assert train_tool.parse_args([CONFIG, '--resume']).resume == 'auto'
    work_dir = tmp_path / 'w'
    work_dir.mkdir()
    for name in ('epoch_2.pth', 'epoch_3.pth'):
        (work_dir / name).write_bytes(b'')
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_2.pth'))
    train_tool.main([CONFIG, '--work-dir', str(work_dir), '--resume'])
    cfg = captured[0].cfg
    # the file last_checkpoint names, given to mmengine explicitly (tests/test_resume_choice.py:
    # without last_checkpoint, without any checkpoint)
    assert cfg.resume is True and cfg.load_from == str(work_dir / 'epoch_2.pth')


def test_train_resume_from_a_file(train_tool, captured, tmp_path):
    ckpt = tmp_path / 'epoch_3.pth'
    ckpt.write_bytes(b'')
    train_tool.main([CONFIG, '--resume', str(ckpt)])
    cfg = captured[0].cfg
    assert cfg.resume is True and cfg.load_from == str(ckpt)


def test_train_resume_from_a_missing_file_names_it(train_tool, captured, tmp_path):
    with pytest.raises(FileNotFoundError, match='missing_epoch.pth'):
        train_tool.main([CONFIG, '--resume', str(tmp_path / 'missing_epoch.pth')])
    assert not captured


def test_train_refuses_a_work_dir_with_checkpoints(train_tool, captured, tmp_path):
    work_dir = tmp_path / 'w'
    work_dir.mkdir()
    (work_dir / 'epoch_1.pth').write_bytes(b'')
    with pytest.raises(FileExistsError, match='epoch_1.pth'):
        train_tool.main([CONFIG, '--work-dir', str(work_dir)])
    assert not captured
    train_tool.main([CONFIG, '--work-dir', str(work_dir), '--resume'])
    train_tool.main([CONFIG, '--work-dir', str(work_dir), '--force'])
    assert [r.called for r in captured] == ['train', 'train']
    assert [r.cfg.resume for r in captured] == [True, False]


def test_train_amp_on_cpu_is_refused(train_tool, captured, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(RuntimeError, match='--amp needs a GPU'):
        train_tool.main([CONFIG, '--amp'])
    assert not captured


def test_train_amp_with_a_gpu_switches_the_optim_wrapper(train_tool, captured, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)  # launcher none: no dist set-up
    train_tool.main([CONFIG, '--amp'])
    cfg = captured[0].cfg
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.optimizer.type == 'SGD'


def test_train_auto_scale_lr(train_tool, captured):
    train_tool.main([CONFIG, '--auto-scale-lr'])
    assert captured[0].cfg.auto_scale_lr == dict(enable=True, base_batch_size=64)


def test_train_slurm_launcher_without_gpu_is_refused(train_tool, captured, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(RuntimeError, match="--launcher slurm .* only 'pytorch'"):
        train_tool.main([CONFIG, '--launcher', 'slurm'])


# ------------------------------------------------------------------------------- tools/test.py
def test_test_missing_checkpoint_names_it(test_tool, captured, tmp_path):
    with pytest.raises(FileNotFoundError, match='no_such_ckpt.pth'):
        test_tool.main([CONFIG, str(tmp_path / 'no_such_ckpt.pth')])
    assert not captured


def test_test_missing_config_names_it(test_tool, captured, tmp_path):
    ckpt = tmp_path / 'model.pth'
    ckpt.write_bytes(b'')
    with pytest.raises(FileNotFoundError, match='no_such_config.py'):
        test_tool.main([str(tmp_path / 'no_such_config.py'), str(ckpt)])


def test_test_refuses_to_overwrite_out(test_tool, captured, tmp_path):
    ckpt, out = tmp_path / 'model.pth', tmp_path / 'preds.pkl'
    ckpt.write_bytes(b'')
    out.write_bytes(b'keep me')
    with pytest.raises(FileExistsError, match='preds.pkl'):
        test_tool.main([CONFIG, str(ckpt), '--out', str(out)])
    assert out.read_bytes() == b'keep me' and not captured


def test_test_sets_checkpoint_and_dump(test_tool, captured, tmp_path):
    ckpt, out = tmp_path / 'model.pth', tmp_path / 'preds.pkl'
    ckpt.write_bytes(b'')
    test_tool.main([CONFIG, str(ckpt), '--out', str(out), '--cfg-options',
                    'test_dataloader.batch_size=3'])
    (runner,) = captured
    cfg = runner.cfg
    assert runner.called == 'test'
    assert cfg.load_from == str(ckpt) and cfg.resume is False
    assert cfg.test_dataloader.batch_size == 3
    assert [e['type'] for e in cfg.test_evaluator] == ['ClsCalibMetric', 'DumpResults']
    assert cfg.test_evaluator[1]['out_file_path'] == str(out)
    assert runner.checked == [(('test_dataloader', ), 'fail')]


# ------------------------------------------------------------------ dist_train.sh / dist_test.sh
@pytest.mark.parametrize('script,args', [
    ('dist_train.sh', []), ('dist_train.sh', ['cfg.py']),
    ('dist_test.sh', []), ('dist_test.sh', ['cfg.py', 'model.pth']),
])
def test_dist_scripts_print_usage_on_too_few_arguments(script, args, tmp_path):
    proc = subprocess.run(['bash', str(REPO / 'tools' / script), *args], cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.startswith('usage: ') and script in proc.stderr
    expected = 'CONFIG GPUS' if script == 'dist_train.sh' else 'CONFIG CHECKPOINT GPUS'
    assert expected in proc.stderr
    assert not list(tmp_path.iterdir())  # nothing was started


@pytest.mark.parametrize('script,args,tool,passed', [
    ('dist_train.sh', ['my cfg.py', '8', '--amp', '--cfg-options', 'a=1'], 'train.py',
     ['my cfg.py', '--launcher', 'pytorch', '--amp', '--cfg-options', 'a=1']),
    ('dist_test.sh', ['my cfg.py', 'm.pth', '8', '--out', 'p.pkl'], 'test.py',
     ['my cfg.py', 'm.pth', '--launcher', 'pytorch', '--out', 'p.pkl']),
])
def test_dist_scripts_pass_the_environment_to_torchrun(script, args, tool, passed, tmp_path):
    """NNODES / NODE_RANK / MASTER_ADDR / PORT reach torchrun; the rest goes to the tool; the
    repository (and nothing else, not the working directory) is prepended to PYTHONPATH."""
    fake = tmp_path / 'fake_python'
    fake.write_text('#!/usr/bin/env bash\necho "PYTHONPATH=$PYTHONPATH"\n'
                    'for a in "$@"; do echo "ARG=$a"; done\n')
    fake.chmod(0o755)
    env = dict(PATH='/usr/bin:/bin', PYTHON=str(fake), NNODES='2', NODE_RANK='1',
               MASTER_ADDR='10.1.2.3', PORT='29123')
    proc = subprocess.run(['bash', str(REPO / 'tools' / script), *args], cwd=str(tmp_path),
                          env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f'PYTHONPATH={REPO / "tools" / ".."}'
    assert [a[4:] for a in lines[1:]] == [
        '-m', 'torch.distributed.run', '--nnodes=2', '--node_rank=1',
        '--master_addr=10.1.2.3', '--nproc_per_node=8', '--master_port=29123',
        str(REPO / 'tools' / tool), *passed]


# ------------------------------------------------------------- real run: train, then evaluate
def _tiny_cls_options(cifar_root):
    opts = ['train_cfg.max_epochs=1', 'train_dataloader.dataset.indices=4',
            'val_dataloader.dataset.indices=4', 'default_hooks.logger.interval=1']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.dataset.data_root={cifar_root}', f'{loader}.batch_size=2',
                 f'{loader}.num_workers=0', f'{loader}.persistent_workers=False']
    return opts


def _log(work_dir):
    logs = sorted(Path(work_dir).glob('*/*.log'))
    assert len(logs) == 1, logs
    return logs[0].read_text()


def test_train_then_test_a_tiny_classifier(train_tool, test_tool, synthetic_data, tmp_path):
    opts = _tiny_cls_options(synthetic_data / 'cifar100')
    train_dir, test_dir = tmp_path / 'train', tmp_path / 'test'
    train_tool.main([CONFIG, '--work-dir', str(train_dir), '--cfg-options', *opts])
    assert 'Epoch(train) [1][2/2]' in _log(train_dir)  # 4 images, batch 2: 2 iterations
    ckpt = train_dir / 'epoch_1.pth'
    assert ckpt.is_file()

    out = tmp_path / 'preds.pkl'
    test_tool.main([CONFIG, str(ckpt), '--work-dir', str(test_dir), '--out', str(out),
                    '--cfg-options', *opts])
    log = _log(test_dir)
    assert f'Load checkpoint from {ckpt}' in log, log[-3000:]
    # the whole 32-image test split, batch 2, and its metrics
    assert re.search(r'Epoch\(test\) \[16/16\]\s+cls/top1: [\d.]+\s+cls/top5: [\d.]+\s+'
                     r'cls/ece: [\d.]+\s+cls/nll: [\d.]+', log), log[-3000:]
    assert out.is_file() and out.stat().st_size > 0
