"""Safe checkpoint loading: Runner checkpoints resume with ``weights_only=True``, anything
else pickled is refused, and a crafted checkpoint runs nothing wherever kd_transfer reads one.

The first tests cover ``load_checkpoint_file`` itself. The later ones (issue 7, item 1) read a
crafted file that unpickles to ``open(marker, 'w')``: if any loader unpickles it without
``weights_only=True``, the marker appears. They run with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``
(fixture ``unsafe_default``), the setting users export to make mmengine 0.10 resume under
torch >= 2.6: it turns every ``torch.load`` that does not pass ``weights_only`` explicitly into
an unsafe load (``test_control_...`` shows mmengine's own loader then runs the payload). So
they fail if any reading path falls back to such a call.
"""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from torch.utils.data import Dataset

import kd_transfer  # noqa: F401
from kd_transfer.safe_load import UnsafeCheckpointError, load_checkpoint_file
from kd_transfer.testing import helpers as hh

pytestmark = pytest.mark.usefixtures('one_thread', 'no_leftover_processes')


class _Points(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return dict(x=torch.randn(4, generator=g), y=torch.tensor(float(i % 2)))


class _Linear(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 1)

    def forward(self, x, y, mode='loss'):
        out = self.fc(x).squeeze(-1)
        return dict(loss=((out - y) ** 2).mean()) if mode == 'loss' else out


def _runner(work_dir, max_iters, resume=False, load_from=None):
    from mmengine.runner import Runner
    torch.manual_seed(0)  # the same initial weights for every runner
    return Runner(
        model=_Linear(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=_Points(), batch_size=2,
                              sampler=dict(type='DefaultSampler', shuffle=True, seed=0),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', by_epoch=False, milestones=[3]),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2),
                           logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0), resume=resume, load_from=load_from)


@pytest.fixture(scope='module')
def runner_ckpt(tmp_path_factory):
    work = tmp_path_factory.mktemp('runner')
    _runner(work, 4).train()  # checkpoints at iterations 2 and 4
    return work, work / 'iter_2.pth'


def test_plain_torch_load_refuses_runner_checkpoint_without_kd_transfer(runner_ckpt):
    """The failure this module fixes: stock torch 2.14 + mmengine cannot load its checkpoint."""
    _, ckpt = runner_ckpt
    code = f'import torch; torch.load({str(ckpt)!r}, weights_only=True)'
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert res.returncode != 0 and 'HistoryBuffer' in res.stderr


def test_runner_resumes_from_its_checkpoint_with_weights_only(runner_ckpt, tmp_path):
    work, ckpt = runner_ckpt
    state = load_checkpoint_file(str(ckpt))
    assert state['meta']['iter'] == 2 and 'message_hub' in state
    runner = _runner(tmp_path, 4, resume=True, load_from=str(ckpt))
    runner.train()
    assert runner.iter == 4
    # a run stopped at iteration 2 and resumed ends with the weights of the uninterrupted run
    straight = load_checkpoint_file(str(work / 'iter_4.pth'))['state_dict']
    for name, value in runner.model.state_dict().items():
        assert torch.equal(value, straight[name]), name


def test_load_from_restores_weights(runner_ckpt, tmp_path):
    _, ckpt = runner_ckpt
    runner = _runner(tmp_path, 2, load_from=str(ckpt))
    runner.load_or_resume()
    saved = load_checkpoint_file(str(ckpt))['state_dict']
    torch.testing.assert_close(runner.model.state_dict()['fc.weight'], saved['fc.weight'])


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


def test_checkpoint_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'x': _RunsCode(marker)}, evil)
    with pytest.raises(UnsafeCheckpointError, match='evil.pth') as err:
        load_checkpoint_file(str(evil))
    assert 'system' in str(err.value)  # says what was refused
    # mmengine's own loading path (what Runner.resume / load_from use) is routed through it
    from mmengine.runner.checkpoint import _load_checkpoint
    with pytest.raises(UnsafeCheckpointError):
        _load_checkpoint(str(evil), map_location='cpu')
    assert not marker.exists()


def test_getattr_is_allowed_only_for_history_buffer_methods(tmp_path):
    """The restricted getattr stand-in refuses other owners and names."""
    import pickle
    from kd_transfer.safe_load import _history_buffer_getattr
    from mmengine.logging.history_buffer import HistoryBuffer
    assert _history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError):
        _history_buffer_getattr(HistoryBuffer, '__init__')
    with pytest.raises(pickle.UnpicklingError):
        _history_buffer_getattr(os, 'system')


def test_missing_and_truncated_checkpoints_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_checkpoint_file(str(tmp_path / 'nope.pth'))
    good = tmp_path / 'good.pth'
    torch.save({'w': torch.randn(100, 100)}, good)
    bad = tmp_path / 'truncated.pth'
    bad.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(RuntimeError, match='truncated.pth'):
        load_checkpoint_file(str(bad))


# --- every reading path, under TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 (``unsafe_default``) ---


@pytest.fixture
def unsafe_default(monkeypatch):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')


def crafted(path: Path, state_dict=None, **extra) -> Path:
    """A checkpoint with real weights and one object whose unpickling creates a marker."""
    marker = path.parent / f'{path.stem}.marker'
    torch.save({'state_dict': state_dict or {'w': torch.zeros(1)}, 'meta': {},
                'payload': hh.RunsCode(marker), **extra}, path)
    return path


def marker_of(path: Path) -> Path:
    return path.parent / f'{path.stem}.marker'


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, 'id', '')
            owner = getattr(func.value, 'id', '') if isinstance(func, ast.Attribute) else ''
            yield owner, name, node


@pytest.mark.usefixtures('unsafe_default')
def test_every_load_in_the_code_base_is_weights_only():
    """Static check of kd_transfer/ and tools/: ``torch.load`` always passes
    ``weights_only=True`` (or, for torch < 2.4, kd_transfer's ``RESTRICTED_PICKLE`` module);
    no bare ``pickle.load(s)``; every ``pickle.Unpickler`` subclass
    restricts ``find_class``; mmengine's local loader and ``Pretrained`` are kd_transfer's."""
    problems = []
    files = sorted((hh.REPO / 'kd_transfer').rglob('*.py')) + sorted(
        (hh.REPO / 'tools').rglob('*.py'))
    assert len(files) > 20
    for path in files:
        tree = ast.parse(path.read_text(), str(path))
        for owner, name, node in _calls(tree):
            where = f'{path.relative_to(hh.REPO)}:{node.lineno}'
            if owner == 'torch' and name == 'load':
                kw = {k.arg: k.value for k in node.keywords}
                value = kw.get('weights_only')
                module = kw.get('pickle_module')
                restricted = isinstance(module, ast.Name) and module.id == 'RESTRICTED_PICKLE'
                if not (isinstance(value, ast.Constant) and value.value is True) \
                        and not restricted:
                    problems.append(f'{where}: torch.load without weights_only=True '
                                    'or the restricted pickle module')
            if owner == 'pickle' and name in ('load', 'loads'):
                problems.append(f'{where}: pickle.{name}')
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                    'Unpickler' in ast.unparse(b) for b in node.bases):
                if not any(isinstance(f, ast.FunctionDef) and f.name == 'find_class'
                           for f in node.body):
                    problems.append(f'{path}: {node.name} does not restrict find_class')
    assert not problems, problems
    from mmengine.registry import WEIGHT_INITIALIZERS
    from mmengine.runner.checkpoint import CheckpointLoader

    from kd_transfer.pretrained_init import StrictPretrainedInit
    from kd_transfer.safe_load import _mmengine_local_loader
    assert CheckpointLoader._schemes[''] is _mmengine_local_loader
    assert WEIGHT_INITIALIZERS.get('Pretrained') is StrictPretrainedInit


@pytest.mark.usefixtures('unsafe_default')
def test_control_upstream_loader_runs_the_payload(tmp_path):
    """What the protection prevents: mmengine's own local loader (``torch.load`` without
    ``weights_only``) executes the crafted checkpoint under this environment."""
    from mmengine.runner.checkpoint import load_from_local
    evil = crafted(tmp_path / 'evil.pth')
    load_from_local(str(evil), map_location='cpu')
    assert marker_of(evil).exists()


@pytest.mark.usefixtures('unsafe_default')
def test_teacher_checkpoint(tmp_path):
    from mmengine.registry import MODELS
    teacher = MODELS.build(dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=14)))
    evil = crafted(tmp_path / 'teacher.pth', teacher.state_dict())
    with pytest.raises(UnsafeCheckpointError, match=r"teacher\.pth.*GLOBAL io\.open"):
        MODELS.build(dict(
            type='Distiller', teacher_checkpoint=str(evil), distill_losses=[dict(type='KDLoss')],
            student=dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=8)),
            teacher=dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=14))))
    assert not marker_of(evil).exists()


@pytest.mark.usefixtures('unsafe_default')
def test_export_input(tmp_path):
    from kd_transfer.export import ExportError, export_backbone
    from kd_transfer.models import build_arch
    evil = crafted(tmp_path / 'student.pth', build_arch('resnet8').state_dict())
    out = tmp_path / 'backbone.pth'
    with pytest.raises(ExportError, match=r'student\.pth.*weights_only=True.*GLOBAL io\.open was '
                                          r'not an allowed global') as err:
        export_backbone(str(evil), str(out))
    assert 'can still be loaded' not in str(err.value)  # not torch's advice to load it unsafely
    assert not marker_of(evil).exists() and not out.exists()


@pytest.mark.parametrize('target', ['CifarResNet', 'mmdet ResNet'])
@pytest.mark.usefixtures('unsafe_default')
def test_init_cfg_pretrained_checkpoint(tmp_path, target):
    """``model.backbone.init_cfg.checkpoint`` of a transfer config (our architectures and the
    upstream ResNet the resnet18 configs use) goes through mmengine's ``PretrainedInit``."""
    from mmengine.registry import MODELS, DefaultScope
    evil = crafted(tmp_path / 'backbone.pth')
    init_cfg = dict(type='Pretrained', checkpoint=str(evil))
    if target == 'CifarResNet':
        model = MODELS.build(dict(type='CifarResNet', depth=8, out_indices=(0, 1, 2),
                                  init_cfg=init_cfg))
    else:
        import mmdet.models  # noqa: F401
        with DefaultScope.overwrite_default_scope('mmdet'):
            from mmdet.registry import MODELS as DET_MODELS
            model = DET_MODELS.build(dict(type='ResNet', depth=18, init_cfg=init_cfg))
    with pytest.raises(UnsafeCheckpointError, match=r'backbone\.pth'):
        model.init_weights()
    assert not marker_of(evil).exists()


@pytest.mark.usefixtures('unsafe_default')
def test_report_reads_backbone_provenance(tmp_path):
    from kd_transfer.report import ReportError, read_provenance
    evil = crafted(tmp_path / 'exported.pth')
    with pytest.raises(ReportError, match=r'exported\.pth.*refusing'):
        read_provenance(str(evil))
    assert not marker_of(evil).exists()


@pytest.mark.usefixtures('unsafe_default')
def test_train_resume_file(tmp_path, cls_config, train_tool):
    """``tools/train.py CONFIG --resume EVIL``: the run is built, then refuses to resume."""
    cfg = cls_config(iters=2)
    evil = crafted(tmp_path / 'iter_1.pth')
    with pytest.raises(UnsafeCheckpointError, match=r'iter_1\.pth'):
        train_tool.main([str(cfg), '--work-dir', str(tmp_path / 'work'), '--resume', str(evil)])
    assert not marker_of(evil).exists()
    assert not list((tmp_path / 'work').glob('*.pth'))


@pytest.mark.usefixtures('unsafe_default')
def test_test_tool_checkpoint(tmp_path, cls_config):
    """``tools/test.py CONFIG EVIL`` (mmengine's ``load_from``)."""
    cfg = cls_config(iters=2)
    evil = crafted(tmp_path / 'model.pth')
    with pytest.raises(UnsafeCheckpointError, match=r'model\.pth'):
        hh.load_tool('test').main([str(cfg), str(evil), '--work-dir', str(tmp_path / 'work')])
    assert not marker_of(evil).exists()


@pytest.mark.usefixtures('unsafe_default')
def test_resume_does_not_execute_config_text_stored_in_the_checkpoint(tmp_path):
    """A checkpoint of tensors and strings only passes ``weights_only``, but mmengine's
    ``Runner.resume`` runs ``Config.fromstring(meta['config'])`` (Python) to read the GPU
    ids; kd_transfer drops that key when loading."""
    import torch.nn as nn
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Linear(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 1)

        def forward(self, x, mode='loss'):
            return dict(loss=self.fc(x).pow(2).mean())

    def runner(work, resume_from=None):
        return Runner(model=Linear(), work_dir=str(work),
                      train_dataloader=dict(dataset=[dict(x=torch.ones(2))] * 4, batch_size=2,
                                            sampler=dict(type='DefaultSampler', shuffle=False),
                                            collate_fn=dict(type='default_collate')),
                      optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
                      train_cfg=dict(by_epoch=False, max_iters=2),
                      default_hooks=dict(checkpoint=dict(type='CheckpointHook', by_epoch=False,
                                                         interval=1)),
                      resume=resume_from is not None, load_from=resume_from)

    runner(tmp_path / 'a').train()
    from kd_transfer.safe_load import load_checkpoint_file
    ckpt = load_checkpoint_file(str(tmp_path / 'a' / 'iter_1.pth'))
    marker = tmp_path / 'config.marker'
    ckpt['meta']['config'] = f'open({str(marker)!r}, "w").close()\ngpu_ids = [0]\n'
    torch.save(ckpt, tmp_path / 'crafted.pth')
    with pytest.warns(UserWarning, match=r"crafted\.pth.*meta\['config'\]"):
        resumed = runner(tmp_path / 'b', str(tmp_path / 'crafted.pth'))
        resumed.train()
    assert resumed.iter == 2 and not marker.exists()
