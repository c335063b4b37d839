"""Issue 7, item 1: a crafted checkpoint runs nothing, wherever kd_transfer reads one.

The crafted file unpickles to ``open(marker, 'w')``: if any loader unpickles it without
``weights_only=True``, the marker appears. Every test runs with
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``, the setting users export to make mmengine 0.10 resume
under torch >= 2.6: it turns every ``torch.load`` that does not pass ``weights_only``
explicitly into an unsafe load (``test_control_...`` shows mmengine's own loader then runs
the payload). So these tests fail if any reading path falls back to such a call.
tests/test_foundation/test_safe_load.py covers ``load_checkpoint_file`` itself.
"""
import ast
from pathlib import Path

import pytest
import torch

import hardening_helpers as hh
import kd_transfer  # noqa: F401
from kd_transfer.safe_load import UnsafeCheckpointError


@pytest.fixture(autouse=True)
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


def test_control_upstream_loader_runs_the_payload(tmp_path):
    """What the protection prevents: mmengine's own local loader (``torch.load`` without
    ``weights_only``) executes the crafted checkpoint under this environment."""
    from mmengine.runner.checkpoint import load_from_local
    evil = crafted(tmp_path / 'evil.pth')
    load_from_local(str(evil), map_location='cpu')
    assert marker_of(evil).exists()


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


def test_report_reads_backbone_provenance(tmp_path):
    from kd_transfer.report import ReportError, read_provenance
    evil = crafted(tmp_path / 'exported.pth')
    with pytest.raises(ReportError, match=r'exported\.pth.*refusing'):
        read_provenance(str(evil))
    assert not marker_of(evil).exists()


def test_train_resume_file(tmp_path, cls_config, train_tool):
    """``tools/train.py CONFIG --resume EVIL``: the run is built, then refuses to resume."""
    cfg = cls_config(iters=2)
    evil = crafted(tmp_path / 'iter_1.pth')
    with pytest.raises(UnsafeCheckpointError, match=r'iter_1\.pth'):
        train_tool.main([str(cfg), '--work-dir', str(tmp_path / 'work'), '--resume', str(evil)])
    assert not marker_of(evil).exists()
    assert not list((tmp_path / 'work').glob('*.pth'))


def test_test_tool_checkpoint(tmp_path, cls_config):
    """``tools/test.py CONFIG EVIL`` (mmengine's ``load_from``)."""
    cfg = cls_config(iters=2)
    evil = crafted(tmp_path / 'model.pth')
    with pytest.raises(UnsafeCheckpointError, match=r'model\.pth'):
        hh.load_tool('test').main([str(cfg), str(evil), '--work-dir', str(tmp_path / 'work')])
    assert not marker_of(evil).exists()


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
