#!/usr/bin/env python
"""Cost of ReviewKDHook on CPU: a detector (Faster R-CNN R-50-FPN teacher -> R-18-FPN
student) or a segmenter (DeepLabV3+ R-101-D8 teacher -> R-18-D8 student, the shipped
configs/reviewkd/deeplabv3plus_r101-r18-d8 recipe).

    python tools/benchmarks/reviewkd_hook.py [--task det|seg] [--size 320] [--batch 2]
        [--warmup 2] [--steps 6] [--threads N] [--runs 2] [--malloc steady|rss]

Rows, measured side by side in one process and interleaved round by round (a, ..., e, e, ...,
a, a, ...) so that a change of machine load hits every row alike:

  (a) plain student training step (forward, backward, SGD step), no distillation;
  (b) teacher backbone (+ FPN for det) forward without grad (what the hook runs of the
      teacher, in its memory format: channels-last on the CPU);
  (c) ABF chain + HCL forward / backward alone, on the student's distilled features;
  (d) the full training step with ReviewKDHook;
  (e) the same distillation, but the whole teacher model run in loss mode under no_grad
      (train mode, BN frozen), its features recorded on the way -- what mmrazor's
      SingleTeacherDistill does (plain memory format, as there).

On the CPU the detector's student step is dominated by mmcv's RoIAlign backward (scalar CPU
code: ~1.2 s of a ~2.9 s step at the defaults, a few ms on a GPU), which the teacher in loss
mode never runs; that bounds e / d for ``--task det`` on this hardware (docs/benchmarks.md).
The segmenter has no such op.

Times are medians over the timed rounds (whose order reverses every round, so that no row
always follows the same other); the ratios are geometric means of the per-round ratios with
their 95 % t interval; everything is measured ``--runs`` times in the same process and printed
side by side (the spread between runs is the noise floor). ``--malloc steady``
(default): glibc's thresholds of CPU training runs (tools/allocator_env.py, what
tools/train.py sets), for the times. ``--malloc rss``: glibc returns every block above 64 KiB
to the OS at once, so each row starts from its own baseline and the peak resident-set increase
during the row (sampled every millisecond) is its memory; times are then slower (page faults).
Targets (issue 16): d / (a + b + c) <= 1.02 (the hook's own overhead), e / d >= 1.2 (running
only backbone + neck pays off). Weights are random: speed and memory do not depend on them.
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
import threading
import time
from types import SimpleNamespace
from typing import Callable, Dict, List

_RSS_MODE = '--malloc=rss' in sys.argv or ' '.join(sys.argv).find('--malloc rss') >= 0
if 'MALLOC_MMAP_THRESHOLD_' not in os.environ:  # glibc reads these at start: re-exec once
    if _RSS_MODE:  # make freed tensors leave the RSS at once
        os.environ['MALLOC_MMAP_THRESHOLD_'] = '65536'
    else:
        sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
        from allocator_env import STEADY  # noqa: E402
        os.environ.update(STEADY)
    os.execv(sys.executable, [sys.executable] + sys.argv)

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402
from bench_timing import paired_ratio  # noqa: E402
from torch import nn  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# task -> (student config, teacher config, features the hook distils); the detector's teacher is
# the R-50 (not the recipe's R-101), the segmenter's the recipe's own
TASKS = {
    'det': (osp.join(ROOT, 'configs/reviewkd/faster-rcnn_r101-r18_fpn_1x_coco.py'),
            'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', 'neck'),
    'seg': (osp.join(ROOT, 'configs/reviewkd/'
                           'deeplabv3plus_r101-r18-d8_4xb4-20k_voc12aug-512x512.py'),
            'mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-20k_voc12aug-512x512.py', 'backbone'),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--task', choices=sorted(TASKS), default='det',
                        help="'det': Faster R-CNN (default); 'seg': DeepLabV3+")
    parser.add_argument('--size', type=int, default=320, help='image side (default 320)')
    parser.add_argument('--batch', type=int, default=2, help='images per step (default 2)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed rounds (default 2)')
    parser.add_argument('--steps', type=int, default=6, help='timed rounds (default 6)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch intra-op threads (default: torch default)')
    parser.add_argument('--runs', type=int, default=2,
                        help='whole measurements in this process, printed side by side')
    parser.add_argument('--malloc', choices=['steady', 'rss'], default='steady',
                        help="'steady': CPU training runs' glibc settings (times); 'rss': "
                        'freed blocks leave the RSS at once (memory column)')
    return parser.parse_args(argv)


class PeakRSS:
    """Peak resident-set size above the value at entry, sampled by a thread (bytes)."""

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.page = os.sysconf('SC_PAGE_SIZE')

    def _rss(self) -> int:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * self.page

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(self.interval)

    def __enter__(self) -> 'PeakRSS':
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def increase(self) -> int:
        return self.peak - self.base


def make_batch(size: int, batch: int, task: str = 'det') -> dict:
    """``batch`` random uint8 images with three boxes each (mmdet's packed format) or a random
    21-class label map each (mmseg's)."""
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    if task == 'seg':
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample
        for _ in range(batch):
            inputs.append(torch.randint(0, 256, (3, size, size), generator=g, dtype=torch.uint8))
            sample = SegDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                                 pad_shape=(size, size)))
            sample.gt_sem_seg = PixelData(
                data=torch.randint(0, 21, (1, size, size), generator=g))
            samples.append(sample)
        return dict(inputs=inputs, data_samples=samples)
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, size, size), generator=g, dtype=torch.uint8))
        xy = torch.rand(3, 2, generator=g) * size * 0.6
        wh = torch.rand(3, 2, generator=g) * size * 0.3 + 16
        sample = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                             scale_factor=(1., 1.), pad_shape=(size, size)))
        sample.gt_instances = InstanceData(bboxes=torch.cat([xy, xy + wh], 1),
                                           labels=torch.randint(0, 80, (3,), generator=g))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def build(config: str, **overrides) -> nn.Module:
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope
    from kd_transfer.hooks.reviewkd_teacher import resolve_config
    cfg = Config.fromfile(resolve_config(config))
    cfg.model.backbone.init_cfg = None
    cfg.model.pop('pretrained', None)
    if cfg.model.get('data_preprocessor', None) and 'size' in cfg.model.data_preprocessor:
        # mmseg pads every batch to the 512 crop: pad to a multiple of 32 instead (--size)
        cfg.model.data_preprocessor.update(size=None, size_divisor=32)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmdet')):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model


class FakeRunner:
    """What ReviewKDHook.before_run reads from a Runner (single process, no schedulers)."""

    def __init__(self, model: nn.Module, optim_wrapper) -> None:
        from mmengine.logging import MMLogger
        self.model, self.optim_wrapper = model, optim_wrapper
        self.param_schedulers, self.auto_scale_lr, self.distributed = [], None, False
        self.train_loop = SimpleNamespace(run_iter=lambda *args: None)  # never run here
        self.logger = MMLogger.get_instance('reviewkd_benchmark', log_level='WARNING')


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    import kd_transfer  # noqa: F401
    from mmengine.logging import MMLogger
    from mmengine.optim import build_optim_wrapper
    from kd_transfer.distill.reviewkd import hcl_loss
    from kd_transfer.hooks.reviewkd_hook import ReviewKDHook
    from kd_transfer.hooks.reviewkd_teacher import extract_until

    MMLogger.get_instance('reviewkd_benchmark', log_level='WARNING')  # quiet weight init
    torch.manual_seed(0)
    optim_cfg = dict(optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4))
    student_config, teacher_config, features = TASKS[args.task]
    students = {k: build(student_config) for k in 'ade'}
    for s in students.values():
        s.load_state_dict(students['a'].state_dict())
        s.train()
    wrappers = {k: build_optim_wrapper(s, optim_cfg) for k, s in students.items()}

    teacher_full = build(teacher_config)
    tmp = tempfile.mkdtemp(prefix='reviewkd_bench_')
    ckpt = osp.join(tmp, 'teacher.pth')
    torch.save({'state_dict': teacher_full.state_dict()}, ckpt)
    teacher_full.train()
    for m in teacher_full.modules():  # mmrazor's teacher_norm_eval
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    teacher_full.requires_grad_(False)

    class WholeTeacherHook(ReviewKDHook):
        """(e): the whole teacher runs in loss mode; its distilled features are recorded."""

        def teacher_forward(self, inputs, data_samples) -> List[torch.Tensor]:
            out = []
            handle = teacher_full.get_submodule(features).register_forward_hook(
                lambda m, a, o: out.append(o))
            try:
                teacher_full.loss(self.converter(inputs), data_samples)
            finally:
                handle.remove()
            return list(out[0])

    hook_kw = dict(teacher_config=teacher_config, teacher_checkpoint=ckpt, loss_weight=1.2,
                   student_features=features, teacher_features=features)
    hook_d, hook_e = ReviewKDHook(**hook_kw), WholeTeacherHook(**hook_kw)
    hook_d.before_run(FakeRunner(students['d'], wrappers['d']))
    hook_e.before_run(FakeRunner(students['e'], wrappers['e']))
    hook_d.install_loss()  # what the train loop's run_iter does around each iteration
    hook_e.install_loss()

    data = make_batch(args.size, args.batch, args.task)
    student_a = students['a']
    inputs = student_a.data_preprocessor(data, True)['inputs']
    with torch.no_grad():
        s_fixed = [f.detach() for f in extract_until(student_a, features, inputs)]
        t_fixed = hook_d.teacher_forward(inputs, None)
    abf = hook_d.abf  # the chain (c) exercises; (d) also updates it, which does not matter

    def row_c() -> None:
        feats = [f.clone().requires_grad_(True) for f in s_fixed]
        loss = hcl_loss(abf(feats, [t.shape[-2:] for t in t_fixed]), t_fixed)
        loss.backward()
        abf.zero_grad(set_to_none=True)

    def row_b() -> None:  # exactly what the hook runs of the teacher (format included)
        with torch.no_grad():
            hook_d.teacher_forward(inputs, None)

    rows: Dict[str, Callable[[], None]] = {
        'a': lambda: students['a'].train_step(data, wrappers['a']),
        'b': row_b,
        'c': row_c,
        'd': lambda: students['d'].train_step(data, wrappers['d']),
        'e': lambda: students['e'].train_step(data, wrappers['e']),
    }
    student_name, teacher_name, what = {
        'det': ('Faster R-CNN R-18-FPN', 'R-50-FPN', 'backbone+neck'),
        'seg': ('DeepLabV3+ R-18-D8', 'R-101-D8', 'backbone')}[args.task]
    names = {
        'a': f'plain student step ({student_name})',
        'b': f'teacher {what}, no grad ({teacher_name})',
        'c': 'ABF chain + HCL fwd/bwd',
        'd': 'full step with ReviewKDHook',
        'e': 'distillation, whole teacher in loss mode',
    }
    runs = []
    for _ in range(args.runs):
        times, peaks = measure(rows, args.warmup, args.steps)
        runs.append(({k: statistics.median(v) for k, v in times.items()}, peaks, times))
    print(f'ReviewKDHook benchmark: {teacher_name} -> {student_name}, {args.size}x{args.size}, '
          f'batch {args.batch}, CPU, {torch.get_num_threads()} threads, torch {torch.__version__}; '
          f'median of {args.steps} rounds after {args.warmup} warm-up rounds, {args.malloc} '
          f'malloc, {args.runs} runs side by side')
    head = ' | '.join(f'run {i + 1} ms | run {i + 1} peak MiB' for i in range(args.runs))
    print(f'| row | what | {head} |')
    print('|---|---|' + '---:|---:|' * args.runs)
    for key in rows:
        cells = ' | '.join(f'{ms[key]:.0f} | {peak[key] / 2 ** 20:.0f}' for ms, peak, _ in runs)
        print(f'| ({key}) | {names[key]} | {cells} |')
    # per-round paired ratios (the rows of a round ran close together): geometric mean [95 % t]
    over = [paired_ratio(t['d'], [a + b + c for a, b, c in zip(t['a'], t['b'], t['c'])])
            for _, _, t in runs]
    gain = [paired_ratio(t['e'], t['d']) for _, _, t in runs]
    for label, vals, ok in (('d / (a + b + c)', over, lambda v: v <= 1.02),
                            ('e / d', gain, lambda v: v >= 1.2)):
        target = '<= 1.02' if label.startswith('d') else '>= 1.2'
        points = [v[0] for v in vals]
        print(f'{label} = ' + ', '.join(f'{r:.3f} [{lo:.3f}, {hi:.3f}]' for r, lo, hi in vals) +
              f'  (spread {max(points) - min(points):.3f}; target {target}: '
              f'{"met" if all(ok(v) for v in points) else "NOT met"} in every run)')


def measure(rows: Dict[str, Callable[[], None]], warmup: int, steps: int) -> tuple:
    """Interleaved rounds whose order reverses every round (a, ..., e, e, ..., a, a, ...): the
    ms of every row per timed round, and each row's peak RSS increase."""
    times = {k: [] for k in rows}
    peaks = {k: 0 for k in rows}
    order = list(rows)
    for rnd in range(warmup + steps):
        for key in (order if rnd % 2 == 0 else order[::-1]):
            fn = rows[key]
            with PeakRSS() as mem:
                start = time.perf_counter()
                fn()
                elapsed = time.perf_counter() - start
            if rnd >= warmup:
                times[key].append(elapsed * 1000)
                peaks[key] = max(peaks[key], mem.increase)
    return times, peaks


if __name__ == '__main__':
    main()
