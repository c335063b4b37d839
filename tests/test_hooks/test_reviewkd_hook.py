"""ReviewKDHook on mmdet Faster R-CNN and mmseg DeepLabV3+ (CPU, generated data).

Student: configs/reviewkd/faster-rcnn_r101-r18_fpn_1x_coco.py (R-18-FPN); teacher: an R-18-FPN
Faster R-CNN built from mmdet's upstream config with its own normalisation (different mean /
std, no BGR->RGB), saved from a random initialisation (BN statistics too). Images are resized
to 128 x 128, batch 1; the RoI sampler and box head are shrunk to keep CPU steps short.
DeepLabV3+: the R-18 config's student against an R-50 (ResNetV1c) teacher, backbone stages.
The 2-process test runs tools/dist_train.sh (torchrun, gloo) on CPU.
"""
import json
import math
import os
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import kd_transfer  # noqa: F401  (registers the hook, weights_only checkpoint loading)
from kd_transfer.hooks import ReviewKDHook
from kd_transfer.safe_load import load_checkpoint_file

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import MODELS, DefaultScope
from mmengine.runner import Runner

ROOT = Path(__file__).resolve().parents[2]
DET_CONFIG = ROOT / 'configs/reviewkd/faster-rcnn_r101-r18_fpn_1x_coco.py'
SEG_CONFIG = ROOT / 'configs/reviewkd/deeplabv3plus_r101-r18-d8_4xb4-20k_voc12aug-512x512.py'
WEIGHT = 1.2  # the config's loss_weight

DET_TEACHER = """
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
model = dict(
    data_preprocessor=dict(mean=[100., 110., 120.], std=[50., 60., 70.], bgr_to_rgb=False),
    backbone=dict(depth=18, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512]))
"""
SEG_TEACHER = """
_base_ = 'mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb4-20k_voc12aug-512x512.py'
model = dict(pretrained=None)
"""


# ----------------------------------------------------------------------------- helpers
def _save_teacher(cfg_path: Path, ckpt_path: Path, scope: str) -> dict:
    """Build a teacher from ``cfg_path``, randomise it (BN statistics too) and save it."""
    cfg = Config.fromfile(str(cfg_path))
    torch.manual_seed(123)
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save({'state_dict': state, 'meta': {}}, ckpt_path)
    return state


@pytest.fixture(scope='module')
def det_teacher(tmp_path_factory):
    d = tmp_path_factory.mktemp('det_teacher')
    cfg = d / 'teacher.py'
    cfg.write_text(DET_TEACHER)
    state = _save_teacher(cfg, d / 'teacher.pth', 'mmdet')
    return cfg, d / 'teacher.pth', state


def det_cfg(data_root: Path, work_dir: Path, teacher, num_images=2, max_epochs=1,
            **hook_kw) -> Config:
    """The R-101 -> R-18 config, scaled down for a CPU test."""
    cfg = Config.fromfile(str(DET_CONFIG))
    cfg.model.backbone.init_cfg = None
    cfg.model.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=100)
    cfg.model.train_cfg.rcnn.sampler.num = 64
    cfg.model.roi_head.bbox_head.fc_out_channels = 256  # smaller checkpoints
    cfg.custom_hooks[0].update(teacher_config=str(teacher[0]),
                               teacher_checkpoint=str(teacher[1]), **hook_kw)
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                dict(type='Resize', scale=(128, 128), keep_ratio=False),
                dict(type='PackDetInputs')]
    cfg.train_dataloader = dict(
        batch_size=1, num_workers=0, persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(type='CocoDataset', data_root=str(data_root / 'coco'),
                     ann_file='annotations/instances_train2017.json',
                     data_prefix=dict(img='train2017/'), indices=num_images,
                     pipeline=pipeline))
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=100)
    for key in ('val_dataloader', 'val_evaluator', 'val_cfg', 'test_dataloader',
                'test_evaluator', 'test_cfg'):
        cfg[key] = None
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.randomness = dict(seed=0)
    unique(cfg, work_dir)
    return cfg


def unique(cfg: Config, work_dir: Path) -> None:
    """Own work dir, logger and visualizer: several runners share this process."""
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'rkd_{abs(hash(str(work_dir)))}'
    cfg.visualizer.name = cfg.experiment_name
    cfg.log_level = 'INFO'  # the text log is checked for loss_reviewkd


def prepare(runner: Runner) -> ReviewKDHook:
    """What ``Runner.train`` does before iterating (optimizer, schedulers, ``before_run``),
    then what the train loop's ``run_iter`` does around an iteration: install the loss."""
    runner._train_loop = runner.build_train_loop(runner._train_loop)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.param_schedulers = runner.build_param_scheduler(runner.param_schedulers)
    runner.call_hook('before_run')
    hook = the_hook(runner)
    hook.install_loss()
    return hook


def the_hook(runner: Runner) -> ReviewKDHook:
    hooks = [h for h in runner.hooks if isinstance(h, ReviewKDHook)]
    assert len(hooks) == 1
    return hooks[0]


class Reseed(Hook):
    """Seed every iteration from its index: the RPN / RoI samplers become repeatable."""

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        torch.manual_seed(1000 + runner.iter)
        np.random.seed(1000 + runner.iter)
        random.seed(1000 + runner.iter)


class Record(Hook):
    """Keep each iteration's logged losses and the ABF state at the start of training."""

    priority = 'LOWEST'

    def __init__(self):
        self.losses, self.abf_at_start, self.teacher = {}, None, None

    def before_train(self, runner):
        self.teacher = the_hook(runner).teacher  # the hook lets it go after the run
        self.abf_at_start = {k: v.clone() for k, v in the_hook(runner).abf.state_dict().items()}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses[runner.iter + 1] = {k: float(v.detach()) for k, v in outputs.items()}


def adaptive_pool_reference(x: torch.Tensor, size: int) -> torch.Tensor:
    """Adaptive average pooling written out with explicit bin limits."""
    h, w = x.shape[-2:]
    out = torch.empty(*x.shape[:-2], size, size, dtype=torch.float64)
    for i in range(size):
        h0, h1 = (i * h) // size, -((-(i + 1) * h) // size)
        for j in range(size):
            w0, w1 = (j * w) // size, -((-(j + 1) * w) // size)
            out[..., i, j] = x[..., h0:h1, w0:w1].double().mean(dim=(-2, -1))
    return out


def hcl_reference(student, teacher) -> float:
    """HCL summed over levels, from the formula in docs/methods.md."""
    total = 0.0
    for fs, ft in zip(student, teacher):
        fs, ft = fs.detach().double(), ft.detach().double()
        num = ((fs - ft) ** 2).mean().item()
        den, w = 1.0, 1.0
        for size in (4, 2, 1):
            if size < fs.shape[-2]:
                w = w / 2
                diff = adaptive_pool_reference(fs, size) - adaptive_pool_reference(ft, size)
                num += w * (diff ** 2).mean().item()
                den += w
        total += num / den
    return total


# ----------------------------------------------------------------------------- unit level
@pytest.fixture
def prepared(synthetic_data, det_teacher, tmp_path):
    runner = Runner.from_cfg(det_cfg(synthetic_data, tmp_path, det_teacher))
    hook = prepare(runner)
    batch = next(iter(runner.train_dataloader))
    return runner, hook, batch


def test_loss_reviewkd_equals_independent_hcl_and_grads_reach_abf_and_student_only(prepared):
    runner, hook, batch = prepared
    student, teacher = runner.model, hook.teacher
    student.train()
    data = student.data_preprocessor(batch, True)
    losses = student(**data, mode='loss')
    assert {'loss_rpn_cls', 'loss_cls', 'loss_reviewkd'} <= set(losses)
    conv = teacher.backbone.layer1[0].conv2.weight  # the CPU default: teacher channels-last
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()

    # independently: the teacher's OWN preprocessor on the raw batch, backbone + FPN by hand
    with torch.no_grad():
        t_in = teacher.data_preprocessor(batch, False)['inputs']
        t_feats = teacher.neck(teacher.backbone(t_in))
    assert torch.allclose(hook.converter(data['inputs']), t_in, atol=1e-4)
    s_feats = student.neck(student.backbone(data['inputs']))
    fused = hook.abf(list(s_feats), [t.shape[-2:] for t in t_feats])
    assert [f.shape for f in fused] == [t.shape for t in t_feats]
    expected = WEIGHT * hcl_reference(fused, t_feats)
    assert losses['loss_reviewkd'].item() == pytest.approx(expected, rel=1e-4)

    losses['loss_reviewkd'].backward()  # the distillation term alone
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in hook.abf.parameters()
               if p.requires_grad and p.dim() > 1)
    assert student.neck.fpn_convs[0].conv.weight.grad.abs().sum() > 0
    assert student.backbone.layer2[0].conv1.weight.grad.abs().sum() > 0  # layer1 frozen
    assert student.roi_head.bbox_head.fc_cls.weight.grad is None  # heads untouched by HCL
    assert all(not p.requires_grad and p.grad is None for p in teacher.parameters())
    assert not any(m.training for m in teacher.modules())
    assert teacher.rpn_head is None and teacher.roi_head is None  # heads dropped


def test_predict_never_runs_teacher_or_abf(prepared):
    runner, hook, batch = prepared
    calls = []
    hook.teacher.backbone.register_forward_pre_hook(lambda *a: calls.append('teacher'))
    hook.abf.register_forward_pre_hook(lambda *a: calls.append('abf'))
    model = runner.model
    model.eval()
    with torch.no_grad():
        preds = model.val_step(batch)
    assert len(preds) == 1 and calls == []
    # the student carries no hooks of ours outside a loss call
    assert not model.neck._forward_hooks and not model.backbone._forward_hooks
    model.train()
    model(**model.data_preprocessor(batch, True), mode='loss')
    assert calls == ['teacher', 'abf']  # positive control: the loss path does run them
    assert not model.neck._forward_hooks


@pytest.mark.filterwarnings('ignore:Detected call of `scheduler.step()`')
def test_abf_param_group_follows_the_lr_schedule(prepared):
    runner, hook, _ = prepared
    groups = runner.optim_wrapper.optimizer.param_groups
    assert len(groups) == 2
    abf_params = list(hook.abf.parameters())
    assert len(groups[1]['params']) == len(abf_params)
    assert all(a is b for a, b in zip(groups[1]['params'], abf_params))
    for key in ('lr', 'initial_lr', 'momentum', 'weight_decay'):
        assert groups[1][key] == groups[0][key]
    for scheduler in runner.param_schedulers:
        assert len(scheduler.base_values) == 2
    # mmdet 1x: LinearLR(start_factor=0.001, by_epoch=False, begin=0, end=500) from lr 0.02;
    # mmengine spreads the ramp over end - begin - 1 = 499 steps
    linear = [s for s in runner.param_schedulers if type(s).__name__ == 'LinearLR'][0]
    for k in range(1, 4):
        linear.step()
        expected = 0.02 * (0.001 + (1 - 0.001) * k / 499)
        assert groups[1]['lr'] == pytest.approx(expected, rel=1e-6)
        assert groups[0]['lr'] == pytest.approx(expected, rel=1e-6)


def test_abf_group_takes_the_default_lr_when_paramwise_groups_exist(synthetic_data,
                                                                    det_teacher, tmp_path):
    cfg = det_cfg(synthetic_data, tmp_path, det_teacher)
    cfg.optim_wrapper.paramwise_cfg = dict(custom_keys={'backbone': dict(lr_mult=0.1)})
    runner = Runner.from_cfg(cfg)
    hook = prepare(runner)
    groups = runner.optim_wrapper.optimizer.param_groups
    assert len(groups) > 2 and groups[-1]['params'] == list(hook.abf.parameters())
    # group 0 is backbone.conv1 (lr x 0.1); the ABF group gets the optimizer's lr 0.02,
    # at the same point of the warm-up (start factor 0.001)
    assert groups[0]['lr'] == pytest.approx(0.002 * 0.001)
    assert groups[-1]['lr'] == pytest.approx(0.02 * 0.001)
    assert groups[-1]['initial_lr'] == pytest.approx(0.02)
    assert groups[-1]['weight_decay'] == pytest.approx(1e-4)


def test_val_or_test_runs_build_no_teacher(synthetic_data, det_teacher, tmp_path):
    runner = Runner.from_cfg(det_cfg(synthetic_data, tmp_path, det_teacher))
    hook = the_hook(runner)
    hook.before_run(runner)  # optimizer not built: Runner.val() / test()
    assert hook.teacher is None and hook.abf is None and 'loss' not in vars(runner.model)


def test_warmup_is_linear_in_iterations(synthetic_data, det_teacher, tmp_path):
    hook = ReviewKDHook('x.py', 'x.pth', loss_weight=2.0, warmup_iters=4)
    weights = []
    for it in range(6):
        hook._iter = it
        weights.append(hook.current_weight())
    assert weights == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    assert ReviewKDHook('x.py', 'x.pth', loss_weight=2.0).current_weight() == 2.0


def test_level_mismatch_fails_before_training_listing_both(synthetic_data, det_teacher,
                                                             tmp_path):
    cfg = det_cfg(synthetic_data, tmp_path, det_teacher, teacher_features='backbone')
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError) as err:
        runner.train()
    msg = str(err.value)
    assert '[256, 256, 256, 256, 256]' in msg and '[64, 128, 256, 512]' in msg
    assert runner.iter == 0


def test_missing_teacher_checkpoint_is_named(synthetic_data, det_teacher, tmp_path):
    missing = tmp_path / 'nope.pth'
    teacher = (det_teacher[0], missing, None)
    runner = Runner.from_cfg(det_cfg(synthetic_data, tmp_path, teacher))
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        runner.train()


class FailAfterLoss(Hook):
    """Raise after the first iteration's loss (as FiniteLossHook does on a NaN loss)."""

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.logged = set(outputs)
        raise RuntimeError('stop here')


def test_failing_run_gives_the_student_its_own_loss_back(synthetic_data, det_teacher, tmp_path):
    """A run that raises never reaches ``after_run``; the student must not keep the wrapped
    ``loss`` (which would keep the teacher alive and add loss_reviewkd to any later use)."""
    runner = Runner.from_cfg(det_cfg(synthetic_data, tmp_path, det_teacher, num_images=1))
    fail = FailAfterLoss()
    runner.register_hook(fail)
    with pytest.raises(RuntimeError, match='stop here'):
        runner.train()
    assert 'loss_reviewkd' in fail.logged  # the distillation did run in that iteration
    assert 'loss' not in vars(runner.model)  # the class's own method again


# ----------------------------------------------------------------------------- training runs
@pytest.fixture(scope='module')
def run_a(synthetic_data, det_teacher, tmp_path_factory):
    """2 epochs x 2 iterations, a checkpoint per epoch."""
    work = tmp_path_factory.mktemp('run_a')
    runner = Runner.from_cfg(det_cfg(synthetic_data, work, det_teacher, max_epochs=2))
    record = Record()
    runner.register_hook(Reseed())
    runner.register_hook(record)
    runner.train()
    return runner, record, work


def test_teacher_params_and_buffers_unchanged_after_training(run_a, det_teacher):
    runner, record, _ = run_a
    teacher = record.teacher
    assert the_hook(runner).teacher is None  # released after the run
    saved = det_teacher[2]
    state = teacher.state_dict()
    assert set(state) == {k for k in saved if k.split('.')[0] in ('backbone', 'neck')}
    for key, value in state.items():
        assert torch.equal(value, saved[key]), key
    assert not any(m.training for m in teacher.modules())


def test_loss_reviewkd_is_logged(run_a):
    runner, record, work = run_a
    assert sorted(record.losses) == [1, 2, 3, 4]
    assert all(math.isfinite(v['loss_reviewkd']) and v['loss_reviewkd'] > 0
               for v in record.losses.values())
    assert runner.message_hub.get_scalar('train/loss_reviewkd').current() > 0
    scalars = list(work.glob('*/vis_data/scalars.json'))
    assert len(scalars) == 1
    rows = [json.loads(line) for line in scalars[0].read_text().splitlines()]
    assert len([r for r in rows if 'loss_reviewkd' in r]) == 4
    logs = list(work.glob('*/*.log'))
    assert 'loss_reviewkd:' in logs[0].read_text()


def test_checkpoint_has_abf_state_and_a_plain_student(run_a):
    runner, _, work = run_a
    ckpt = load_checkpoint_file(str(work / 'epoch_2.pth'))
    hook = the_hook(runner)
    abf = hook.abf.state_dict()
    assert set(ckpt['reviewkd_abf']) == set(abf)
    assert all(torch.equal(ckpt['reviewkd_abf'][k], abf[k]) for k in abf)
    assert set(ckpt['state_dict']) == set(runner.model.state_dict())
    assert not any(k.startswith(('teacher', 'abf')) or '.abfs.' in k for k in ckpt['state_dict'])
    assert len(ckpt['optimizer']['param_groups']) == 2
    # after the run the student's loss is its class method again
    assert 'loss' not in vars(runner.model)


def test_resume_restores_abf_and_continues_the_same_loss_curve(run_a, synthetic_data,
                                                               det_teacher, tmp_path):
    _, record_a, work_a = run_a
    ckpt_path = work_a / 'epoch_1.pth'
    cfg = det_cfg(synthetic_data, tmp_path, det_teacher, max_epochs=2)
    cfg.resume, cfg.load_from = True, str(ckpt_path)
    runner = Runner.from_cfg(cfg)
    record_b = Record()
    runner.register_hook(Reseed())
    runner.register_hook(record_b)
    runner.train()

    saved = load_checkpoint_file(str(ckpt_path))['reviewkd_abf']
    assert all(torch.equal(record_b.abf_at_start[k], v) for k, v in saved.items())
    # the restore matters: the weights moved away from their initial values in run A
    assert any(not torch.equal(record_a.abf_at_start[k], v) for k, v in saved.items())
    assert sorted(record_b.losses) == [3, 4]
    for it in (3, 4):
        for key, value in record_a.losses[it].items():
            assert record_b.losses[it][key] == pytest.approx(value, rel=1e-5, abs=1e-7), (it, key)


# ----------------------------------------------------------------------------- mmseg
def seg_cfg(data_root: Path, tmp_path: Path) -> Config:
    """The DeepLabV3+ R-101 -> R-18 config, scaled down for a CPU test (teacher: a small R-50)."""
    tcfg = tmp_path / 'seg_teacher.py'
    tcfg.write_text(SEG_TEACHER)
    _save_teacher(tcfg, tmp_path / 'seg_teacher.pth', 'mmseg')
    cfg = Config.fromfile(str(SEG_CONFIG))
    cfg.model.pretrained = None
    cfg.model.backbone.init_cfg = None  # no torchvision download
    cfg.model.data_preprocessor.size = (64, 64)
    cfg.custom_hooks[0].update(teacher_config=str(tcfg),
                               teacher_checkpoint=str(tmp_path / 'seg_teacher.pth'))
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                dict(type='PackSegInputs')]
    cfg.train_dataloader = dict(  # batch 2: the ASPP image-pool BN needs 2 values per channel
        batch_size=2, num_workers=0, persistent_workers=False,
        sampler=dict(type='InfiniteSampler', shuffle=False),
        dataset=dict(type='PascalVOCDataset', data_root=str(data_root / 'VOCdevkit/VOC2007'),
                     data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
                     ann_file='ImageSets/Segmentation/train.txt', indices=4,
                     pipeline=pipeline))
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=1, val_interval=100)
    for key in ('val_dataloader', 'val_evaluator', 'val_cfg', 'test_dataloader',
                'test_evaluator', 'test_cfg'):
        cfg[key] = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1000)
    cfg.default_hooks.logger.interval = 1
    return cfg


def test_deeplabv3plus_backbone_stages_distil(synthetic_data, tmp_path):
    cfg = seg_cfg(synthetic_data, tmp_path)
    unique(cfg, tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    record = Record()
    runner.register_hook(record)
    runner.train()
    hook = the_hook(runner)
    chans = [(a.conv1[0].in_channels, a.conv2[0].out_channels) for a in hook.abf.abfs]
    assert chans == [(64, 256), (128, 512), (256, 1024), (512, 2048)]
    assert record.losses[1]['loss_reviewkd'] > 0
    assert record.teacher.decode_head is None and record.teacher.auxiliary_head is None


# ----------------------------------------------------------------------------- 2 processes
DUMP_HOOK = '''
import torch
from mmengine.hooks import Hook
from mmengine.dist import get_rank
from mmengine.registry import HOOKS


@HOOKS.register_module()
class DumpReviewKDState(Hook):
    priority = 'LOWEST'

    def __init__(self, out_dir):
        self.out_dir, self.losses = out_dir, []

    def _hook(self, runner):
        return [h for h in runner.hooks if type(h).__name__ == 'ReviewKDHook'][0]

    def before_train(self, runner):
        self.start = {k: p.detach().clone()
                      for k, p in self._hook(runner).abf.named_parameters()}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append(float(outputs['loss_reviewkd']))

    def after_run(self, runner):
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        abf = self._hook(runner).abf
        torch.save(dict(start=self.start, abf={k: p.detach() for k, p in abf.named_parameters()},
                        model=model.state_dict(), losses=self.losses,
                        wrapped=type(self._hook(runner).abf_forward).__name__),
                   f'{self.out_dir}/rank{get_rank()}.pth')
'''



def test_two_process_gloo_run_keeps_abf_identical_on_both_ranks(synthetic_data, det_teacher,
                                                                 tmp_path, free_port):
    (tmp_path / 'rkd_dump_hook.py').write_text(DUMP_HOOK)
    cfg = det_cfg(synthetic_data, tmp_path / 'work', det_teacher, num_images=4)
    cfg.custom_imports = dict(imports=['kd_transfer', 'rkd_dump_hook'],
                              allow_failed_imports=False)
    cfg.custom_hooks.append(dict(type='DumpReviewKDState', out_dir=str(tmp_path)))
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1000)
    cfg_file = tmp_path / 'ddp_cfg.py'
    cfg.dump(str(cfg_file))
    env = dict(os.environ, PORT=str(free_port), OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run(['bash', str(ROOT / 'tools/dist_train.sh'), str(cfg_file), '2'],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    r0 = torch.load(tmp_path / 'rank0.pth', weights_only=True)
    r1 = torch.load(tmp_path / 'rank1.pth', weights_only=True)
    assert len(r0['losses']) == len(r1['losses']) == 2
    assert r0['losses'] != r1['losses']  # each rank distilled its own images
    # parameters (BN running statistics are broadcast from rank 0 at each forward, then
    # updated with the local batch, as DDP does for every module)
    # 5 ABFs x (conv1 w, BN w, b, conv2 w, BN w, b) + 4 fusing ABFs x (att conv w, b)
    assert len(r0['abf']) == 5 * 6 + 4 * 2
    for key, value in r0['abf'].items():
        assert torch.equal(value, r1['abf'][key]), key
    assert any(not torch.equal(r0['start'][k], r0['abf'][k]) for k in r0['abf'])
    assert r0['wrapped'] == 'DistributedDataParallel'
    params = [k for k in r0['model'] if 'running' not in k and 'num_batches' not in k]
    assert all(torch.equal(r0['model'][k], r1['model'][k]) for k in params)


def test_two_process_deeplab_run_with_the_hook(synthetic_data, tmp_path, free_port):
    """mmseg's DeepLabV3+ (SyncBN in its config) with the hook through tools/dist_train.sh on
    CPU: the launcher falls back to per-process BN (torch's SyncBatchNorm refuses CPU tensors),
    the ABF chain stays identical on both ranks."""
    (tmp_path / 'rkd_dump_hook.py').write_text(DUMP_HOOK)
    cfg = seg_cfg(synthetic_data, tmp_path)
    cfg.train_cfg.max_iters = 2
    cfg.work_dir = str(tmp_path / 'work')
    cfg.custom_imports = dict(imports=['kd_transfer', 'rkd_dump_hook'],
                              allow_failed_imports=False)
    cfg.custom_hooks.append(dict(type='DumpReviewKDState', out_dir=str(tmp_path)))
    cfg_file = tmp_path / 'ddp_seg_cfg.py'
    cfg.dump(str(cfg_file))
    env = dict(os.environ, PORT=str(free_port), OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run(['bash', str(ROOT / 'tools/dist_train.sh'), str(cfg_file), '2'],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert 'SyncBN replaced by BN' in proc.stdout + proc.stderr
    r0 = torch.load(tmp_path / 'rank0.pth', weights_only=True)
    r1 = torch.load(tmp_path / 'rank1.pth', weights_only=True)
    assert len(r0['losses']) == len(r1['losses']) == 2 and r0['losses'] != r1['losses']
    for key, value in r0['abf'].items():
        assert torch.equal(value, r1['abf'][key]), key
    assert any(not torch.equal(r0['start'][k], r0['abf'][k]) for k in r0['abf'])
