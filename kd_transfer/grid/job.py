"""Jobs of a grid, the graph of their dependencies, and what "finished" means on disk.

A :class:`Job` is one command line (exact argv) with a work directory, the jobs it waits for and
the files it must leave behind. :class:`JobGraph` keeps the jobs in a dependency order (every
job after the jobs it needs) and refuses unknown dependencies, cycles and two different jobs
under one name.

Finished, on disk (:func:`job_state`): the grid runner writes ``grid_done.json`` into the job's
work dir, atomically, only after the command exited 0 and its declared outputs exist. A job is
*done* when that marker exists and every output is still there; *resume* when it is not done
but its work dir holds a checkpoint (``last_checkpoint`` or ``*.pth``: ``tools/train.py`` gets
``--resume``); *todo* otherwise. For a training job the runner also points ``final.pth`` (a
relative symlink) at the checkpoint that mmengine's ``last_checkpoint`` names when the run ends:
the checkpoint later jobs (distillation teachers, exports, detector teachers) read.
"""
import glob
import json
import os
import os.path as osp
import shlex
import time
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence

MARKER = 'grid_done.json'
FINAL = 'final.pth'


class GridError(ValueError):
    """A spec or a job graph that cannot be run; the message names the field or the job."""


@dataclass
class Job:
    """One step of the pipeline.

    Attributes:
        name (str): Unique name, also the work dir below the work root
            (``cls/kd_resnet56_resnet20/s0``).
        kind (str): ``setup``, ``train``, ``export``, ``report`` (train jobs get ``--resume``,
            launchers and ``final.pth``).
        stage (str): Group for printing and for Slurm arrays (``teacher``, ``baseline``,
            ``distill``, ``export``, ``det_voc07``, ``hook_teacher``, ``hook``, ``report``...).
        argv (list): The command (for train jobs: the ``tools/train.py`` arguments after the
            interpreter, i.e. ``[train.py, CONFIG, --work-dir, ...]``).
        work_dir (str): Where the job writes its logs and checkpoints and its done marker.
        deps (list): Names of the jobs that must finish first.
        seed (int, optional): ``randomness.seed`` of the run.
        outputs (list): Files that must exist after a successful run.
        gpus (int): GPUs of the run (launchers ``dist`` and ``slurm``).
        always (bool): Run even when done before and even when a dependency failed (the report).
        derive (dict, optional): Config transform applied before the run
            (:mod:`kd_transfer.grid.derive`); the derived config is ``argv[1]``.
    """
    name: str
    kind: str
    stage: str
    argv: List[str]
    work_dir: str
    deps: List[str] = field(default_factory=list)
    seed: Optional[int] = None
    outputs: List[str] = field(default_factory=list)
    gpus: int = 1
    always: bool = False
    derive: Optional[dict] = None

    def command_text(self) -> str:
        return ' '.join(shlex.quote(a) for a in self.argv)

    def same_as(self, other: 'Job') -> bool:
        keys = ('kind', 'argv', 'work_dir', 'deps', 'seed', 'outputs', 'derive')
        return all(getattr(self, k) == getattr(other, k) for k in keys)


class JobGraph:
    """Jobs in insertion order; :meth:`ordered` gives a dependency order."""

    def __init__(self, root: str = '') -> None:
        self.jobs: Dict[str, Job] = {}
        self.root = root  # the work root the jobs' work dirs are under

    def add(self, job: Job) -> Job:
        """Add ``job``; a job already present under that name must be the same job."""
        old = self.jobs.get(job.name)
        if old is not None:
            if not old.same_as(job):
                raise GridError(f'two different jobs are named {job.name!r}:\n'
                                f'  {old.command_text()}\n  {job.command_text()}')
            return old
        self.jobs[job.name] = job
        return job

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, name: str) -> Job:
        return self.jobs[name]

    def ordered(self) -> List[Job]:
        """Every job after its dependencies (stable: insertion order otherwise)."""
        for job in self.jobs.values():
            for dep in job.deps:
                if dep not in self.jobs:
                    raise GridError(f'job {job.name!r} depends on {dep!r}, which is not a job')
        out: List[Job] = []
        state: Dict[str, int] = {}  # 1 visiting, 2 done

        def visit(job: Job, path: List[str]) -> None:
            mark = state.get(job.name)
            if mark == 2:
                return
            if mark == 1:
                raise GridError('dependency cycle: ' + ' -> '.join(path + [job.name]))
            state[job.name] = 1
            for dep in job.deps:
                visit(self.jobs[dep], path + [job.name])
            state[job.name] = 2
            out.append(job)

        for job in self.jobs.values():
            visit(job, [])
        return out

    def dependents(self, name: str) -> List[str]:
        """Names of the jobs that need ``name``, directly or not."""
        found, todo = set(), [name]
        while todo:
            cur = todo.pop()
            for job in self.jobs.values():
                if cur in job.deps and job.name not in found:
                    found.add(job.name)
                    todo.append(job.name)
        return sorted(found)


# ---- state on disk ---------------------------------------------------------------------------
def checkpoints_in(work_dir: str) -> List[str]:
    found = sorted(glob.glob(osp.join(work_dir, '*.pth')))
    if osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        found.insert(0, osp.join(work_dir, 'last_checkpoint'))
    return [f for f in found if osp.basename(f) != FINAL]


def job_state(job: Job) -> str:
    """``'done'``, ``'resume'`` or ``'todo'`` (see the module docstring)."""
    marker = osp.join(job.work_dir, MARKER)
    if osp.isfile(marker) and all(osp.exists(p) for p in job.outputs):
        return 'done'
    if job.kind == 'train' and checkpoints_in(job.work_dir):
        return 'resume'
    return 'todo'


def _atomic_text(path: str, text: str) -> None:
    from ..fileio import atomic_write
    atomic_write(path, text)


def link_final_checkpoint(work_dir: str) -> Optional[str]:
    """Point ``work_dir/final.pth`` at the checkpoint ``last_checkpoint`` names (relative link,
    replaced atomically); None when the run saved no checkpoint."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        target = f.read().strip()
    if not target:
        return None
    target = osp.basename(target)
    if not osp.isfile(osp.join(work_dir, target)):
        raise GridError(f'{pointer} names {target!r}, which is not in {work_dir}')
    tmp = osp.join(work_dir, f'.{FINAL}.{os.getpid()}.tmp')
    if osp.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, osp.join(work_dir, FINAL))
    return target


def mark_done(job: Job, seconds: float) -> None:
    """Write the done marker (after a zero exit); refuses when an output is missing."""
    missing = [p for p in job.outputs if not osp.exists(p)]
    if missing:
        raise GridError(f'job {job.name!r} exited 0 but did not write {", ".join(missing)}')
    _atomic_text(osp.join(job.work_dir, MARKER), json.dumps(dict(
        name=job.name, argv=job.argv, seed=job.seed, seconds=round(seconds, 1),
        finished=time.strftime('%Y-%m-%dT%H:%M:%S%z')), indent=1) + '\n')


def recorded_argv(job: Job) -> Optional[List[str]]:
    """The command recorded in the done marker, if any."""
    try:
        with open(osp.join(job.work_dir, MARKER)) as f:
            return json.load(f).get('argv')
    except (OSError, ValueError):
        return None


def stages_in_order(jobs: Iterable[Job]) -> List[str]:
    seen: List[str] = []
    for job in jobs:
        if job.stage not in seen:
            seen.append(job.stage)
    return seen


def count_by_stage(jobs: Sequence[Job]) -> Dict[str, int]:
    out: Dict[str, int] = {}
    for job in jobs:
        out[job.stage] = out.get(job.stage, 0) + 1
    return out
