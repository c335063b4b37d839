#!/usr/bin/env python
"""kd_transfer against torchdistill, side by side in one process (CPU training steps).

For each method both suites implement -- KD (``KDLoss``), AT (``ATLoss``) and ReviewKD
(torchdistill's ``Student4KnowledgeReview`` ABF wrapper + one ``HierarchicalContextLoss`` per
level) -- the same resnet56 teacher -> resnet20 student (kd_transfer's ``CifarResNet``
modules, same initial weights on both sides), batch 64, 32 x 32, one SGD step (momentum 0.9,
wd 5e-4) per training step, cross-entropy included. The torchdistill side is its own
``DistillationBox`` (forward hooks, io dicts, its loss modules, ``forward_process`` +
``post_forward_process``: backward, step, zero_grad); it receives the batch already
normalised (its dataloader workers do that), the kd_transfer side normalises its uint8 batch
inside the step. kd_transfer runs its frozen teacher channels-last on the CPU (its default,
kd_transfer/models/teacher_format.py); a third side, kd_transfer with
``teacher_channels_last=False``, shows the framework without that. The sides and the lower
bound (a plain teacher forward without grad + plain student step) are timed in interleaved
rounds (a, b, c, d, d, c, b, a, ...: the order reverses every round) so that a change of
machine load hits them alike and no side always follows the same other; ours/peer is the geometric mean of the per-round ratios with its 95 % t
interval, the ms figures are medians.

torchdistill is only needed here: install it outside the project's environment, e.g.

    pip install --no-deps --target /tmp/td_peer 'torchdistill==1.1.*'
    PYTHONPATH=/tmp/td_peer python tools/benchmarks/peer_speed.py [--runs 2]

mdistiller's implementations (not installable from a registry) were measured the same way on
this machine kind in issue 16 (kd_transfer / mdistiller, default allocator, two runs): KD
0.93-0.95, FitNets 0.96-0.98, AT 1.08-1.09, DKD 1.03-1.05, ReviewKD 0.90-0.92 -- kept as a
reference in docs/benchmarks.md.
"""
import argparse
import copy
import logging
import os.path as osp
import statistics
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402
from bench_timing import interleaved, paired_ratio  # noqa: E402
from torch import nn  # noqa: E402

MEAN, STD = [129.304, 124.070, 112.434], [68.170, 65.392, 70.418]
KD_T = dict(type='KDLoss', temperature=4, loss_weight=0.9)
OURS = {  # (ce_weight, loss config)
    'kd': (0.1, KD_T),
    'at': (1.0, dict(type='ATLoss', p=2, loss_weight=1000)),
    'reviewkd': (1.0, dict(type='ReviewKDLoss', loss_weight=1.0, warmup=0)),
}
CE = dict(criterion=dict(key='CrossEntropyLoss', kwargs=dict(reduction='mean')),
          criterion_wrapper=dict(key='SimpleLossWrapper', kwargs=dict(
              input=dict(is_from_teacher=False, module_path='.', io='output'),
              target=dict(uses_label=True))), weight=1.0)


class ModuleCalls(nn.Module):
    """kd_transfer's CifarResNet modules run as plain module calls (stem, ``layer1..3``, an
    ``nn.AdaptiveAvgPool2d`` named ``pool``, ``fc``), so that torchdistill's forward hooks see
    every stage and the pooled map. Same modules, same weights, same arithmetic."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        for name in ('conv1', 'bn1', 'relu', 'layer1', 'layer2', 'layer3', 'fc'):
            setattr(self, name, getattr(backbone, name))
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.pool(x).flatten(1))


def torchdistill_config(method: str) -> tuple:
    """(teacher config, student config, criterion sub-terms) of torchdistill's box."""
    teacher = dict(requires_grad=False, forward_proc='forward_batch_only')
    student = dict(requires_grad=True, forward_proc='forward_batch_only')
    if method == 'kd':
        kd = dict(key='KDLoss', kwargs=dict(
            student_module_path='.', student_module_io='output', teacher_module_path='.',
            teacher_module_io='output', temperature=4, alpha=0.1, beta=0.9))
        return teacher, student, dict(kd=dict(criterion=kd, weight=1.0))
    if method == 'at':
        layers = ['layer1', 'layer2', 'layer3']
        teacher['forward_hook'] = student['forward_hook'] = dict(output=layers)
        pairs = {f'pair{i}': dict(teacher=dict(io='output', path=p),
                                  student=dict(io='output', path=p), weight=1)
                 for i, p in enumerate(layers)}
        at = dict(key='ATLoss', kwargs=dict(at_pairs=pairs, mode='code'))
        return teacher, student, dict(ce=CE, at=dict(criterion=at, weight=1000.0))
    # ReviewKD: teacher levels = stage outputs + pooled; student ABF chain deep -> shallow
    levels = [('layer1', 16), ('layer2', 32), ('layer3', 64), ('pool', 64)]
    teacher['forward_hook'] = dict(output=[p for p, _ in levels])
    abfs = [dict(io='output', path=f'student_model.{p}',
                 kwargs=dict(in_channels=c, mid_channels=64, out_channels=c)) for p, c in levels]
    student['auxiliary_model_wrapper'] = dict(
        key='Student4KnowledgeReview', kwargs=dict(abfs=abfs, sizes=[1, 8, 16, 32]))
    student['forward_hook'] = dict(output=[f'student_model.{p}' for p, _ in levels] +
                                   [f'abf_modules.{i}' for i in range(len(levels))])
    terms = dict(ce=CE)
    for i, (path, _) in enumerate(reversed(levels)):
        terms[f'hcl{i}'] = dict(criterion=dict(key='HierarchicalContextLoss', kwargs=dict(
            student_module_path=f'abf_modules.{i}', student_module_io='output',
            teacher_module_path=path, teacher_module_io='output', reduction='mean',
            output_sizes=[4, 2, 1])), weight=1.0)
    return teacher, student, terms


def build_sides(method: str, batch: int):
    """kd_transfer's Distiller + optim wrapper and torchdistill's DistillationBox, same weights."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import MODELS
    from torchdistill.core.distillation import DistillationBox

    import kd_transfer  # noqa: F401
    from kd_transfer.datasets.cls_sample import ClsDataSample
    torch.manual_seed(0)
    pp = dict(type='ImgDataPreprocessor', mean=MEAN, std=STD)
    ce, loss_cfg = OURS[method]
    ours = MODELS.build(dict(
        type='Distiller', distill_losses=[loss_cfg], ce_weight=ce,
        student=dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=20),
                     data_preprocessor=pp),
        teacher=dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=56),
                     data_preprocessor=pp))).train()
    optim_cfg = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4))
    ours_optim = build_optim_wrapper(ours, optim_cfg)

    t_model = ModuleCalls(copy.deepcopy(ours.teacher.backbone)).eval()
    s_model = ModuleCalls(copy.deepcopy(ours.student.backbone)).train()
    teacher_cfg, student_cfg, terms = torchdistill_config(method)
    train_cfg = dict(
        num_epochs=1, teacher=teacher_cfg, student=student_cfg,
        optimizer=dict(key='SGD', kwargs=dict(lr=0.01, momentum=0.9, weight_decay=5e-4)),
        criterion=dict(key='WeightedSumLoss', kwargs=dict(sub_terms=terms)))
    box = DistillationBox(t_model, s_model, {}, train_cfg, torch.device('cpu'), None, False, 1)
    box.teacher_model.eval()
    box.student_model.train()

    g = torch.Generator().manual_seed(0)
    raw = torch.randint(0, 256, (batch, 3, 32, 32), generator=g, dtype=torch.uint8)
    labels = torch.arange(batch) % 100
    samples = []
    for i in range(batch):
        s = ClsDataSample()
        s.set_field(labels[i:i + 1].clone(), 'gt_label')
        samples.append(s)
    data = dict(inputs=raw, data_samples=samples)
    normalised = (raw.float() - torch.tensor(MEAN).view(1, 3, 1, 1)) / \
        torch.tensor(STD).view(1, 3, 1, 1)

    def ours_step():
        ours.train_step(data, ours_optim)

    # kd_transfer with its teacher in the plain memory format (teacher_channels_last=False):
    # the framework alone, without the channels-last teacher of its CPU default
    plain = copy.deepcopy(ours)
    plain.teacher_channels_last = False
    plain_optim = build_optim_wrapper(plain, optim_cfg)

    def ours_plain_step():
        plain.train_step(data, plain_optim)

    def peer_step():
        loss = box.forward_process(normalised, labels)
        box.post_forward_process(loss)

    student = ours.student
    s_optim = build_optim_wrapper(student, optim_cfg)
    t_in = ours.teacher.data_preprocessor(dict(inputs=raw), False)['inputs']
    plain_teacher = copy.deepcopy(ours.teacher.backbone)  # ours' own is converted at 1st step

    def lower_bound():
        with torch.no_grad():
            plain_teacher.forward_features(t_in)
        student.train_step(data, s_optim)
    return dict(ours=ours_step, torchdistill=peer_step, ours_plain=ours_plain_step,
                lower=lower_bound)


def measure(method: str, batch: int, rounds: int, iters: int, warmup: int) -> dict:
    sides = build_sides(method, batch)
    for fn in sides.values():
        for _ in range(warmup):
            fn()
    res = interleaved(sides, rounds, iters)
    out = {k: statistics.median(v) for k, v in res.items()}
    # paired by round (the rows of a round ran back to back)
    out['ratio'] = paired_ratio(res['ours'], res['torchdistill'])
    out['ratio_plain'] = paired_ratio(res['ours_plain'], res['torchdistill'])
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--methods', nargs='+', default=list(OURS), choices=list(OURS))
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--rounds', type=int, default=10, help='interleaved rounds (default 10)')
    parser.add_argument('--iters', type=int, default=4, help='steps per side per round')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--runs', type=int, default=2, help='whole measurements, side by side')
    args = parser.parse_args(argv)
    logging.getLogger('torchdistill').setLevel(logging.WARNING)
    runs = [{m: measure(m, args.batch, args.rounds, args.iters, args.warmup)
             for m in args.methods} for _ in range(args.runs)]
    import torchdistill
    print(f'kd_transfer vs torchdistill {torchdistill.__version__}: resnet56 -> resnet20, batch '
          f'{args.batch}, CPU, {torch.get_num_threads()} threads; {args.rounds} '
          f'interleaved rounds x {args.iters} steps; {args.runs} runs side by side')
    print('ours/peer: geometric mean of the per-round ratios [95 % t interval]; ms: medians')
    print('ours: kd_transfer as it runs by default (teacher channels-last on the CPU); plain: '
          'with teacher_channels_last=False (the framework alone); lower bound: a plain teacher '
          'forward without grad + a plain student step')
    head = ' | '.join(f'run {i + 1}: ours / plain / torchdistill / lower bound ms, ours/peer, '
                      'plain/peer, ours/lower' for i in range(args.runs))
    print(f'| method | {head} |')
    print('|---|' + '---|' * args.runs)
    for m in args.methods:
        cells = []
        for r in runs:
            x = r[m]
            ratio, low, high = x['ratio']
            p_ratio, p_low, p_high = x['ratio_plain']
            cells.append(f"{x['ours']:.1f} / {x['ours_plain']:.1f} / {x['torchdistill']:.1f} / "
                         f"{x['lower']:.1f}, **{ratio:.3f}** [{low:.3f}, {high:.3f}], "
                         f"{p_ratio:.3f} [{p_low:.3f}, {p_high:.3f}], "
                         f"{x['ours'] / x['lower']:.3f}")
        print(f'| {m} | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
    main()
