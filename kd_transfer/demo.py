"""The whole kd_transfer pipeline on generated data, on CPU (``make demo``), through the grid.

``run_demo`` runs the grid spec ``configs/grid/demo.py`` with the grid command's machinery
(:mod:`kd_transfer.grid`, in-process: one interpreter for every job) into ``--out``:

1. the generated "shapes" world in the real VOC2007 / COCO2017 / CIFAR-100 formats;
2. classification on the CIFAR-format data at three seeds: the resnet20 baseline and resnet20
   students distilled with KD from a resnet56 teacher;
3. every student exported as a backbone;
4. Faster R-CNN (VOC2007 format) and DeepLabV3+ (VOC2007 segmentation) with each exported
   backbone, and the same two with a randomly initialised backbone (``scratch``: the positive
   control);
5. the transfer report, whose results and positive-control sections are printed at the end.

A finished job is skipped, so rerunning the demo on its own output resumes it; ``--force``
starts over. Every run uses the configs a user trains on a GPU node; data location, epochs /
iterations, image sizes and loader settings are shrunk by the spec's ``derive`` transforms.
The ``quick`` profile (the tests) runs the same grid at toy size: two seeds, 2-iteration runs.
"""
import time
from pathlib import Path
from typing import Callable, Dict, List

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / 'configs' / 'grid' / 'demo.py'

#: Overrides of configs/grid/demo.py per profile (``default``: the spec as written).
PROFILES: Dict[str, dict] = {
    'default': {},
    'quick': dict(seeds=[0, 1],
                  data={'--num-train': 8, '--num-val': 4, '--image-size': 64,
                        '--cifar-train': 64, '--cifar-test': 32},
                  cls=dict(epochs=1, batch=16),
                  transfer=dict(image_size=64, crop_size=32, max_iters=2, num_val=4,
                                warmup_iters=0)),
}

#: Marker file of a demo output directory, and everything the demo writes at its top level
#: (the grid's work dirs: configs/grid/demo.py's setup, stages and hook names).
DEMO_MARKER = '.kd_transfer_demo'
DEMO_ENTRIES = {DEMO_MARKER, '.grid', 'data', 'cls', 'export', 'det_voc07', 'seg_voc07',
                'hook_reviewkd_voc07', 'report', 'setup'}  # (hook: none in today's spec)


def refuse_foreign_demo_dir(out: Path) -> None:
    """Refuse ``--force`` (or a resume) on a directory the demo did not write (no marker, or
    other entries at its top level): ``tools/demo.py --out . --force`` must not delete the
    user's files."""
    entries = sorted(p.name for p in out.iterdir())
    foreign = [e for e in entries if e not in DEMO_ENTRIES]
    if DEMO_MARKER not in entries or foreign:
        shown = foreign or entries
        raise FileExistsError(
            f'{out} ' + ('holds files the demo did not write' if DEMO_MARKER in entries else
                         f'was not written by the demo (it has no {DEMO_MARKER})') +
            f': {", ".join(shown[:5])}' + (f' ... (+{len(shown) - 5} more)' if len(shown) > 5
                                            else '') +
            '; --force only replaces a demo output directory. Choose another --out.')


def _set_flag(argv: List[str], flag: str, value) -> None:
    if flag not in argv:
        raise KeyError(f'{SPEC}: setup command has no {flag} (expected by the demo profiles)')
    argv[argv.index(flag) + 1] = str(value)


def apply_profile(spec: dict, profile: dict) -> dict:
    """``spec`` (configs/grid/demo.py, loaded) with a profile's sizes; changed in place."""
    if 'seeds' in profile:
        spec['seeds'] = list(profile['seeds'])
    for flag, value in profile.get('data', {}).items():
        _set_flag(spec['setup'][0]['argv'], flag, value)
    cls = spec['classification']
    cls['derive'].update(profile.get('cls', {}))
    if 'methods' in profile:
        cls['methods'] = list(profile['methods'])
    for entry in spec.get('transfer', []) + spec.get('hooks', []):
        entry['derive'].update(profile.get('transfer', {}))
        if 'teacher' in entry:
            entry['teacher']['derive'].update(profile.get('transfer', {}))
    return spec


def report_excerpt(report_md: str) -> str:
    """The results and positive-control sections of a report.md (what the demo prints)."""
    keep, out = False, []
    for line in report_md.splitlines():
        if line.startswith('## '):
            keep = line.startswith(('## Results', '## Positive control'))
        if keep:
            out.append(line)
    return '\n'.join(out).strip()


def run_demo(out_dir: str = 'demo_out', profile: str = 'default', force: bool = False,
             log: Callable[[str], None] = print, workers: int = 2, threads: int = 1) -> Path:
    """Run the demo grid into ``out_dir`` and print its report.

    Args:
        out_dir (str): Output directory (the grid's work root). An existing demo directory is
            resumed (finished jobs skipped); any other non-empty directory is refused.
        profile (str): ``'default'`` (the README's ``make demo``) or ``'quick'`` (tests).
        force (bool): Start over: delete an existing demo directory first.
        log (callable): Where progress lines and the report go.
        workers (int): Jobs run at once, each in its own worker process (one interpreter
            per worker, jobs in-process: :mod:`kd_transfer.grid.pool`); 1 runs them in this
            process. Two by default, for a 2-core machine.
        threads (int): torch's intra-op threads per worker. One by default: on models this
            small OpenMP's synchronisation costs more than a second thread gains, and much more
            on a busy machine (a Faster R-CNN iteration of the demo took 1.1 s with one thread
            and 10.5 s with two on a loaded 2-core machine).

    Returns:
        Path: The report directory.
    """
    import shutil

    from .grid import expand_spec, load_spec
    from .grid.local import run_graph
    if profile not in PROFILES:
        raise ValueError(f'profile {profile!r}: expected one of {sorted(PROFILES)}')
    out = Path(out_dir).resolve()
    if out.exists() and any(out.iterdir()):
        refuse_foreign_demo_dir(out)
        if force:
            shutil.rmtree(out)
        else:
            log(f'[demo] {out} holds an earlier demo: resuming it (finished jobs are skipped; '
                '--force starts over)')
    out.mkdir(parents=True, exist_ok=True)
    (out / DEMO_MARKER).write_text('written by tools/demo.py; --force replaces this directory\n')
    spec = apply_profile(load_spec(str(SPEC)), PROFILES[profile])
    graph = expand_spec(spec, str(out))
    start = time.time()
    log(f'[demo] {len(graph)} jobs of {SPEC.relative_to(REPO)} ({profile} profile, seeds '
        f'{spec["seeds"]}, {workers} worker(s) x {threads} thread(s)) into {out}; each job '
        f'logs to {out / ".grid" / "logs"}')
    if workers > 1:
        from .grid.pool import run_graph_pool
        results = run_graph_pool(graph, graph.root, workers, threads, log=log)
    else:
        import torch
        saved = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            results = run_graph(graph, graph.root, in_process=True, log=log)
        finally:
            torch.set_num_threads(saved)
    report_dir = out / 'report'
    report_md = report_dir / 'report.md'
    if results.get('report') != 'done' or not report_md.is_file():
        raise RuntimeError(f'the demo grid did not write its report; see {out / ".grid"}')
    import json

    from .report.control import verdict
    log('')
    log(report_excerpt(report_md.read_text()))
    log('')
    line = verdict(json.loads((report_dir / 'report.json').read_text())['positive_control'])
    if line:
        log(f'[demo] {line}')
    failed = sorted(n for n, r in results.items() if r in ('failed', 'blocked'))
    if failed:
        log(f'[demo] {len(failed)} job(s) did not finish: {", ".join(failed[:5])}')
    log(f'[demo] {time.time() - start:.0f} s; report: {report_md} '
        '(also report.csv, report.json, *.png)')
    return report_dir
