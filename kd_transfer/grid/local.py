"""Run a job graph on this machine, one job after the other, skipping and resuming.

Each job runs as a subprocess with its output in ``<work_root>/.grid/logs/<job>.log``; progress
lines (``[k/N] name ... elapsed``) go to the console. A job whose done marker exists is skipped,
a training job whose work dir holds a checkpoint gets ``--resume``. When a job fails, the jobs
that need it are skipped (``blocked``) and the others still run; the report always runs last,
over whatever finished. The same :func:`run_job` runs one job inside a Slurm script.

``in_process=True`` (``tools/grid.py --in-process``) calls each tool's ``main(argv)`` in this
process instead, its output going to the same log file: no interpreter start and no re-import
of torch / mmdet / mmseg per job (seconds per job on a small machine; what a CPU demo of many
short runs needs). A crash then stops the grid; the next run resumes it the same way.
"""
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional

from .job import GridError, Job, JobGraph, job_state, link_final_checkpoint, mark_done, \
    recorded_argv

LAUNCHERS = ('local', 'dist', 'slurm')


def launch_argv(job: Job, launcher: str = 'local', gpus: Optional[int] = None,
                resume: bool = False) -> List[str]:
    """The argv that runs ``job`` with ``launcher`` (training jobs only are launched)."""
    argv = list(job.argv)
    if job.kind != 'train':
        return argv
    if resume:
        argv.append('--resume')
    python, train, rest = argv[0], argv[1], argv[2:]
    if launcher == 'dist':
        script = osp.join(osp.dirname(train), 'dist_train.sh')
        return ['bash', script, rest[0], str(gpus or job.gpus), *rest[1:]]
    if launcher == 'slurm':
        return ['srun', '--kill-on-bad-exit=1', python, '-u', train, *rest, '--launcher', 'slurm']
    if launcher != 'local':
        raise GridError(f'launcher {launcher!r}: expected one of {LAUNCHERS}')
    return argv


def log_path(job: Job, root: str) -> str:
    return osp.join(root, '.grid', 'logs', job.name.replace('/', '__') + '.log')


def _call_in_process(argv: List[str], path: Optional[str] = None) -> int:
    """Run ``python SCRIPT ARGS`` as ``SCRIPT``'s ``main(ARGS)`` in this process, its stdout
    and stderr appended to ``path`` (the job's log) when given."""
    import contextlib
    import runpy
    import traceback
    saved = sys.argv
    sys.argv = list(argv[1:])
    # left open on purpose: loggers a job created (mmengine's) may still hold the stream
    out = open(path, 'a', buffering=1) if path else None
    with contextlib.ExitStack() as stack:
        if out is not None:
            out.write(f'\n$ {" ".join(argv)}  (in-process)\n')
            stack.enter_context(contextlib.redirect_stdout(out))
            stack.enter_context(contextlib.redirect_stderr(out))
        try:
            code = runpy.run_path(argv[1], run_name='grid_job')['main'](argv[2:])
        except SystemExit as err:
            code = err.code if isinstance(err.code, int) else (0 if err.code is None else 1)
        except Exception:  # noqa: BLE001  (a failed job, reported like a non-zero exit)
            traceback.print_exc()
            code = 1
        finally:
            sys.argv = saved
    if out is not None:
        out.flush()
    return int(code or 0)


def run_job(job: Job, root: str, launcher: str = 'local', gpus: Optional[int] = None,
            log: Callable[[str], None] = print, echo: bool = False,
            in_process: bool = False) -> str:
    """Run one job unless it is done; returns ``'skipped'``, ``'done'`` or ``'failed'``.

    Args:
        job (Job): The job.
        root (str): The grid's work root (logs go below ``.grid/logs``).
        launcher (str): ``local``, ``dist`` (tools/dist_train.sh) or ``slurm`` (srun).
        gpus (int, optional): GPUs for ``dist`` (default: the job's).
        log (callable): Where status lines go.
        echo (bool): Also copy the job's output to this process's stdout (Slurm scripts).
        in_process (bool): Call the tool's ``main`` here (local launcher, Python tools only;
            its output goes to the job's log unless ``echo``).
    """
    state = job_state(job)
    if state == 'done' and not job.always:
        if recorded_argv(job) not in (None, job.argv):
            log(f'    note: {job.name} was done with another command; delete '
                f'{job.work_dir} to run it again')
        return 'skipped'
    if job.derive:
        from .derive import materialize
        materialize(job)
    argv = launch_argv(job, launcher, gpus, resume=state == 'resume')
    os.makedirs(job.work_dir, exist_ok=True)
    path = log_path(job, root)
    os.makedirs(osp.dirname(path), exist_ok=True)
    env = dict(os.environ, PYTHON=job.argv[0]) if job.kind == 'train' else None
    start = time.time()
    here = in_process and launcher == 'local' and argv[0] == sys.executable and \
        argv[1].endswith('.py')
    code = _call_in_process(argv, None if echo else path) if here else \
        _run_subprocess(argv, path, env, echo)
    if code != 0:
        log(f'    failed (exit {code}); log: {path}')
        _tail(path, log)
        return 'failed'
    try:
        if job.kind == 'train':
            link_final_checkpoint(job.work_dir)
        mark_done(job, time.time() - start)
    except (GridError, OSError) as err:
        log(f'    failed: {err}')
        return 'failed'
    return 'done'


def _run_subprocess(argv: List[str], path: str, env: Optional[dict], echo: bool) -> int:
    with open(path, 'ab') as out:
        out.write(f'\n$ {" ".join(argv)}\n'.encode())
        out.flush()
        if echo:
            return subprocess.call(argv, env=env)
        return subprocess.call(argv, stdout=out, stderr=subprocess.STDOUT, env=env)


def _tail(path: str, log: Callable[[str], None], lines: int = 15) -> None:
    try:
        with open(path, errors='replace') as f:
            tail = f.readlines()[-lines:]
    except OSError:
        return
    for line in tail:
        log('    | ' + line.rstrip())


def _fmt_time(seconds: float) -> str:
    seconds = int(seconds)
    return f'{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


def run_graph(graph: JobGraph, root: str, launcher: str = 'local', gpus: Optional[int] = None,
              log: Callable[[str], None] = print, in_process: bool = False) -> Dict[str, str]:
    """Run every job in dependency order (see the module docstring).

    Returns:
        dict: job name -> ``skipped`` / ``done`` / ``failed`` / ``blocked``.
    """
    jobs = graph.ordered()
    results: Dict[str, str] = {}
    start = time.time()
    n = len(jobs)
    for k, job in enumerate(jobs, 1):
        head = f'[{k}/{n} | {_fmt_time(time.time() - start)}] {job.name}'
        bad = [d for d in job.deps if results.get(d) in ('failed', 'blocked')]
        if bad and not job.always:
            results[job.name] = 'blocked'
            log(f'{head}: blocked ({bad[0]} did not finish)')
            continue
        state = job_state(job)
        if state == 'done' and not job.always:
            log(f'{head}: done before, skipped')
            results[job.name] = run_job(job, root, launcher, gpus, log)
            continue
        log(f'{head}: {"resuming" if state == "resume" else "running"} ({job.stage})')
        t0 = time.time()
        results[job.name] = run_job(job, root, launcher, gpus, log, in_process=in_process)
        log(f'{head}: {results[job.name]} in {time.time() - t0:.1f} s')
    counts = {s: sum(1 for r in results.values() if r == s)
              for s in ('done', 'skipped', 'failed', 'blocked')}
    log(f'[grid] {n} jobs in {_fmt_time(time.time() - start)}: ' +
        ', '.join(f'{v} {k}' for k, v in counts.items()))
    return results
