#!/usr/bin/env python
"""Run a whole benchmark grid (classification, export, transfer, hook runs, report) from a spec.

    python tools/grid.py SPEC [--work-root DIR] [--dry-run]
                              [--launcher local|dist] [--gpus N] [--in-process [--jobs N]]
                              [--slurm OUT_DIR --partition P [--gpus-per-node 8]
                               [--cpus-per-task 5] [--time T]]

Jobs run in dependency order (teachers before students, exports before transfer runs, the
report last); finished jobs are skipped and interrupted training runs resumed, so the same
command continues a killed grid. --dry-run lists every job with its command and dependencies;
--slurm writes job-array scripts and OUT_DIR/submit.sh instead of running. See docs/grid.md.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout too


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.strip().splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.strip().splitlines()[1:]))
    parser.add_argument('spec', metavar='SPEC', help='grid spec (configs/grid/*.py)')
    parser.add_argument('--work-root', default=None,
                        help="root of every job's work dir (default: the spec's work_root)")
    parser.add_argument('--dry-run', action='store_true',
                        help='list the jobs, their commands, dependencies and state; run nothing')
    parser.add_argument('--launcher', choices=['local', 'dist', 'slurm'], default='local',
                        help='local: tools/train.py in this process tree, one job at a time; '
                        'dist: tools/dist_train.sh with --gpus processes; slurm: only with '
                        '--run-job, inside the scripts that --slurm writes')
    parser.add_argument('--gpus', type=int, default=None,
                        help='processes per training job with --launcher dist '
                        "(default: the spec's gpus of each stage)")
    parser.add_argument('--slurm', metavar='OUT_DIR', default=None,
                        help='write Slurm job-array scripts and submit.sh into OUT_DIR')
    parser.add_argument('--partition', default=None, help='Slurm partition (with --slurm)')
    parser.add_argument('--gpus-per-node', type=int, default=8)
    parser.add_argument('--cpus-per-task', type=int, default=5)
    parser.add_argument('--time', default=None, help='Slurm time limit of every job')
    parser.add_argument('--in-process', action='store_true',
                        help="local launcher: call each tool's main() in this process (no "
                        'interpreter start / imports per job; a crash stops the grid)')
    parser.add_argument('--jobs', type=int, default=1,
                        help='with --in-process: N worker processes at once, one torch thread '
                        'each (jobs start when their dependencies are done)')
    parser.add_argument('--run-job', metavar='NAME', default=None,
                        help='run one job of the grid (what the Slurm scripts call)')
    return parser.parse_args(argv)


def dry_run(graph, root: str, out=print) -> None:
    from kd_transfer.grid.job import count_by_stage, job_state
    jobs = graph.ordered()
    out(f'{len(jobs)} jobs under {root}: ' +
        ', '.join(f'{k} {v}' for k, v in count_by_stage(jobs).items()))
    for k, job in enumerate(jobs, 1):
        seed = '' if job.seed is None else f', seed {job.seed}'
        out(f'[{k}/{len(jobs)}] {job.name}  ({job.stage}{seed}; {job_state(job)})')
        out(f'    $ {job.command_text()}')
        if job.always and len(job.deps) == len(jobs) - 1:
            out(f'    after: every other job ({len(job.deps)}), whether it succeeded or not')
        else:
            out(f'    after: {", ".join(job.deps) if job.deps else "-"}')


def main(argv=None) -> int:
    args = parse_args(argv)
    from kd_transfer.grid import GridError, expand_spec, load_spec
    from kd_transfer.grid.local import run_graph, run_job
    try:
        spec = load_spec(args.spec)
        graph = expand_spec(spec, args.work_root)
    except GridError as err:
        print(f'grid: error: {err}', file=sys.stderr)
        return 2
    root = graph.root
    if args.launcher == 'slurm' and not args.run_job:
        print('grid: error: --launcher slurm is for --run-job; use --slurm OUT_DIR to write '
              'the job scripts', file=sys.stderr)
        return 2
    if args.run_job:
        if args.run_job not in graph.jobs:
            print(f'grid: error: no job {args.run_job!r} in {args.spec}', file=sys.stderr)
            return 2
        job = graph[args.run_job]
        from kd_transfer.grid.job import job_state
        missing = [d for d in job.deps if job_state(graph[d]) != 'done']
        if missing and not job.always:
            print(f'grid: error: {job.name}: dependencies not finished: {", ".join(missing)}',
                  file=sys.stderr)
            return 1
        result = run_job(job, root, args.launcher, args.gpus, echo=True)
        print(f'grid: {job.name}: {result}')
        return 1 if result == 'failed' else 0
    if args.dry_run:
        dry_run(graph, root)
        return 0
    if args.slurm:
        if not args.partition:
            print('grid: error: --slurm needs --partition', file=sys.stderr)
            return 2
        from kd_transfer.grid.slurm import write_slurm
        arrays = write_slurm(graph, osp.abspath(args.slurm), spec['_file'], root,
                             args.partition, spec.get('python') or sys.executable,
                             osp.abspath(__file__), args.gpus_per_node, args.cpus_per_task,
                             args.time)
        print(f'{len(graph)} jobs in {len(arrays)} arrays: run bash '
              f'{osp.join(osp.abspath(args.slurm), "submit.sh")}')
        return 0
    if args.jobs > 1:
        if not args.in_process or args.launcher != 'local':
            print('grid: error: --jobs needs --in-process (local launcher)', file=sys.stderr)
            return 2
        from kd_transfer.grid.pool import run_graph_pool
        results = run_graph_pool(graph, root, workers=args.jobs)
    else:
        results = run_graph(graph, root, args.launcher, args.gpus, in_process=args.in_process)
    report = graph.jobs.get('report')
    if report is not None and results.get('report') == 'done':
        out_dir = report.argv[report.argv.index('--out') + 1]
        print(f"[grid] report: {osp.join(out_dir, 'report.md')}")
    return 1 if any(r in ('failed', 'blocked') for r in results.values()) else 0


if __name__ == '__main__':
    sys.exit(main())
