#!/usr/bin/env python
"""Step-time and peak-memory cost of each classification distillation method (CPU).

For resnet56 -> resnet20 at batch 64 (32 x 32), each method's training step is divided by its
lower bound, measured side by side in the same process:

    lower bound = teacher forward without grad + plain student training step

with a plain teacher (a copy, contiguous memory format, as a user would run it). The Distiller
runs its frozen teacher channels-last on the CPU (kd_transfer/models/teacher_format.py), which
alone puts a logit method below that bound; so the table also gives the ratio to the
same-format bound (the teacher forward exactly as the Distiller runs it + the student step),
and, for methods with connectors (FitNets regressor, ReviewKD ABF chain) or feature losses, the
loss + connectors forward/backward alone, so the table separates the method's own cost from the
framework overhead: overhead = (step - same-format bound - loss alone) / same-format bound.

Each method runs in its own subprocess, so ``peak RSS`` is that method's peak (the lower bound
is re-measured in every subprocess and the ratio uses the figures of the same process).

    python tools/benchmarks/cls_distill_speed.py [--batch 64] [--iters 10] [--methods kd dkd ...]
"""
import argparse
import copy
import json
import multiprocessing as mp
import os
import os.path as osp
import resource
import statistics
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from bench_timing import interleaved, paired_ratio  # noqa: E402

METHODS = {
    'kd': (0.1, dict(type='KDLoss', temperature=4, loss_weight=0.9)),
    'fitnets': (1.0, dict(type='FitNetsLoss', hint_layer=2, loss_weight=100)),
    'at': (1.0, dict(type='ATLoss', p=2, loss_weight=1000)),
    'dkd': (1.0, dict(type='DKDLoss', alpha=1.0, beta=2.0, temperature=4, warmup=20)),
    'reviewkd': (1.0, dict(type='ReviewKDLoss', loss_weight=0.6, warmup=20)),
    'gld': (0.3, dict(type='GLDLoss', alpha=0.7, beta=500, div=2)),
    'focal_kd': (0.0, dict(type='FocalCalibKDLoss', alpha=0.1, beta=0.9, gamma=0.01)),
}
# mdistiller's implementations, same measurement on this machine kind (issue #3): a documented
# reference only (mdistiller does not install from a registry); tools/benchmarks/peer_speed.py
# runs torchdistill beside kd_transfer in the same process
MDISTILLER = {'kd': 1.01, 'fitnets': 1.02, 'at': 1.03, 'dkd': 1.02, 'reviewkd': 1.83}
# issue 16: logit methods (kd, dkd, focal_kd) within 2 % of the lower bound, ReviewKD 1.5
TARGET = {'kd': 1.02, 'fitnets': 1.03, 'at': 1.03, 'dkd': 1.02, 'reviewkd': 1.5, 'gld': 1.03,
          'focal_kd': 1.02}


def _measure(method: str, batch: int, warmup: int, iters: int, rounds: int, queue) -> None:
    import torch
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import MODELS

    import kd_transfer  # noqa: F401
    from kd_transfer.datasets.cls_sample import ClsDataSample
    torch.manual_seed(0)
    pp = dict(type='ImgDataPreprocessor', mean=[129.3, 124.1, 112.4], std=[68.2, 65.4, 70.4])
    ce, loss_cfg = METHODS[method]
    model = MODELS.build(dict(
        type='Distiller',
        student=dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=20),
                     data_preprocessor=pp),
        teacher=dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=56),
                     data_preprocessor=pp),
        distill_losses=[loss_cfg], ce_weight=ce)).train()
    # one collated uint8 batch, as the classification dataloaders deliver it (default_collate)
    inputs = torch.randint(0, 256, (batch, 3, 32, 32), dtype=torch.uint8)
    samples = []
    for i in range(batch):
        s = ClsDataSample()
        s.set_field(torch.tensor([i % 100]), 'gt_label')
        samples.append(s)
    data = dict(inputs=inputs, data_samples=samples)
    optim_cfg = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4))
    # (a) plain student training step, (b) teacher forward without grad
    student = model.student
    s_optim = build_optim_wrapper(student, optim_cfg)
    t_step = lambda: student.train_step(data, s_optim)  # noqa: E731
    t_data = model.teacher.data_preprocessor(dict(inputs=inputs, data_samples=samples), False)
    # the lower bound's teacher is a plain one, as a user would run it: a copy taken before the
    # Distiller's first step (which converts its own teacher to channels-last on the CPU)
    plain_teacher = copy.deepcopy(model.teacher)

    def teacher_fwd():
        with torch.no_grad():
            plain_teacher.backbone.forward_features(t_data['inputs'])

    def teacher_as_run():  # the Distiller's own teacher path (channels-last on the CPU)
        with torch.no_grad():
            model.teacher.backbone.forward_features(model._teacher_input(t_data['inputs']))
    # (c) the loss (+ connectors) forward/backward alone, on cached features
    s_in = student.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)['inputs']
    with torch.no_grad():
        s_feats = student.backbone.forward_features(s_in)
        t_feats = model.teacher.backbone.forward_features(t_data['inputs'])
    labels = torch.arange(batch) % 100
    loss_mod = model.distill_losses[0]

    def loss_alone():
        feats = {k: ([v.detach().requires_grad_() for v in val] if isinstance(val, list)
                     else val.detach().requires_grad_()) for k, val in s_feats.items()}
        out = loss_mod(feats, t_feats, labels, 21, student_classifier=student.classifier,
                       teacher_classifier=model.teacher.classifier)
        sum(out.values()).backward()
    d_optim = build_optim_wrapper(model, optim_cfg)
    full = lambda: model.train_step(data, d_optim)  # noqa: E731
    # interleaved, counterbalanced rounds; the ratio per round (its rows ran close together)
    res = interleaved({'student': t_step, 'teacher': teacher_fwd, 'teacher_run': teacher_as_run,
                       'loss': loss_alone, 'full': full}, rounds, iters, warmup)
    out = {k: statistics.median(v) for k, v in res.items()}
    out['ratio'] = list(paired_ratio(res['full'], [t + s for t, s in
                                                   zip(res['teacher'], res['student'])]))
    out['ratio_run'] = list(paired_ratio(res['full'], [t + s for t, s in
                                                       zip(res['teacher_run'], res['student'])]))
    out['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--rounds', type=int, default=6,
                        help='interleaved rounds, order reversed every round (default 6)')
    parser.add_argument('--methods', nargs='+', default=list(METHODS), choices=list(METHODS))
    parser.add_argument('--json', help='also write the raw figures here')
    parser.add_argument('--malloc', choices=['default', 'steady'], default='default',
                        help="'steady': glibc's mmap / trim thresholds raised as tools/train.py "
                        'does for CPU runs (tools/allocator_env.py), so large activations are '
                        'reused from the heap instead of being mmap-ed (and page-faulted) afresh '
                        'every step')
    args = parser.parse_args()
    if args.malloc == 'steady':  # glibc reads these when a process starts: set before spawning
        sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__)))))
        from allocator_env import STEADY  # what tools/train.py uses for CPU runs
        os.environ.update(STEADY)
    else:
        for key in ('MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_'):
            os.environ.pop(key, None)
    ctx = mp.get_context('spawn')
    rows = {}
    for method in args.methods:
        print(f'[bench] {method} ...', flush=True)
        queue = ctx.Queue()
        proc = ctx.Process(target=_measure, args=(method, args.batch, args.warmup, args.iters, args.rounds, queue))
        proc.start()
        rows[method] = queue.get()
        proc.join()
    print(f'\nresnet56 -> resnet20, batch {args.batch}, CPU, median ms of {args.iters} steps x '
          f'{args.rounds} rounds, {args.malloc} malloc; ratio: geometric mean of the per-round '
          'ratios [95 % t interval]')
    print('lower bound: a plain teacher forward without grad + a plain student step; "same-'
          'format": with the teacher forward as the Distiller runs it (channels-last on the CPU)')
    print('| method | step ms | lower bound ms (teacher fwd + student step) | ratio [95 % CI] | '
          'target | ratio to same-format bound | mdistiller | loss+connectors alone ms | '
          'overhead | peak RSS MB |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for m, r in rows.items():
        lower = r['teacher'] + r['student']
        ratio, low, high = r['ratio']
        run, run_low, run_high = r['ratio_run']
        lower_run = r['teacher_run'] + r['student']  # the framework's overhead: same format
        overhead = (r['full'] - lower_run - r['loss']) / lower_run
        print(f"| {m} | {r['full']:.1f} | {lower:.1f} ({r['teacher']:.1f} + {r['student']:.1f}) | "
              f"{ratio:.3f} [{low:.3f}, {high:.3f}] | <= {TARGET[m]:.2f} | "
              f"{run:.3f} [{run_low:.3f}, {run_high:.3f}] | "
              f"{MDISTILLER.get(m, '—')} | {r['loss']:.1f} | {overhead * 100:+.1f}% | "
              f"{r['peak_rss_mb']:.0f} |")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)


if __name__ == '__main__':
    main()
