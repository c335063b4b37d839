"""Run a job graph with several in-process workers at once (``tools/grid.py --jobs N``).

Each worker is a process that imports torch / mmdet / mmseg once and then runs the jobs it is
given in-process (:func:`kd_transfer.grid.local.run_job`, output in the job's log), with
``threads`` torch threads. A job starts as soon as every job it needs is done and a worker is
free, in the graph's order; the skip / resume / blocked rules and the progress lines are those of
:func:`kd_transfer.grid.local.run_graph`. On a small CPU machine, N one-thread workers on N cores
finish many short runs sooner than one N-thread process (tiny models spend more time in
OpenMP's synchronisation than in arithmetic).
"""
import multiprocessing as mp
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Callable, Dict

from .job import JobGraph, job_state
from .local import _fmt_time, _tail, log_path, run_job


def _init_worker(threads: int) -> None:
    import torch
    torch.set_num_threads(threads)


def _work(job, root: str) -> str:
    return run_job(job, root, log=lambda msg: None, in_process=True)


def run_graph_pool(graph: JobGraph, root: str, workers: int = 2, threads: int = 1,
                   log: Callable[[str], None] = print) -> Dict[str, str]:
    """Run every job of ``graph`` on ``workers`` in-process workers.

    Returns:
        dict: job name -> ``skipped`` / ``done`` / ``failed`` / ``blocked``.
    """
    jobs = graph.ordered()
    n = len(jobs)
    index = {job.name: k for k, job in enumerate(jobs, 1)}
    results: Dict[str, str] = {}
    running: Dict[Future, str] = {}
    started: Dict[str, float] = {}
    start = time.time()

    def head(name: str) -> str:
        return f'[{index[name]}/{n} | {_fmt_time(time.time() - start)}] {name}'

    pending = list(jobs)
    ctx = mp.get_context('spawn')  # a fresh interpreter: no OpenMP state forked from here
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(threads, )) as pool:
        while pending or running:
            progressed = False
            for job in list(pending):
                deps = [results.get(d) for d in job.deps]
                if any(r is None for r in deps) and not job.always:
                    continue  # waits for a dependency still to run
                if job.always and len(results) < n - 1:
                    continue  # the report: after every other job
                if any(r in ('failed', 'blocked') for r in deps) and not job.always:
                    pending.remove(job)
                    bad = next(d for d in job.deps if results[d] in ('failed', 'blocked'))
                    results[job.name] = 'blocked'
                    log(f'{head(job.name)}: blocked ({bad} did not finish)')
                    progressed = True
                    continue
                state = job_state(job)
                if state == 'done' and not job.always:
                    pending.remove(job)
                    results[job.name] = run_job(job, root, log=log)
                    log(f'{head(job.name)}: done before, skipped')
                    progressed = True
                    continue
                if len(running) >= workers:
                    continue
                pending.remove(job)
                log(f'{head(job.name)}: {"resuming" if state == "resume" else "running"} '
                    f'({job.stage})')
                started[job.name] = time.time()
                running[pool.submit(_work, job, root)] = job.name
                progressed = True
            if progressed or not running:
                continue
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                name = running.pop(future)
                try:
                    results[name] = future.result()
                except Exception as err:  # noqa: BLE001  (a worker that died)
                    log(f'    {name}: worker error {type(err).__name__}: {err}')
                    results[name] = 'failed'
                log(f'{head(name)}: {results[name]} in {time.time() - started[name]:.1f} s')
                if results[name] == 'failed':
                    log(f'    log: {log_path(graph[name], root)}')
                    _tail(log_path(graph[name], root), log)
    counts = {s: sum(1 for r in results.values() if r == s)
              for s in ('done', 'skipped', 'failed', 'blocked')}
    log(f'[grid] {n} jobs in {_fmt_time(time.time() - start)} on {workers} workers: ' +
        ', '.join(f'{v} {k}' for k, v in counts.items()))
    return results
