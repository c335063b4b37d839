"""Write a job graph as Slurm job arrays chained by dependencies, and a submit.sh.

Jobs are grouped into arrays, wave by wave (a job's wave is one more than its deepest
dependency), by stage, kind and GPUs:

* jobs that wait for exactly the same jobs share one array, which depends on them with
  ``afterok`` (a whole array ``afterok:$A`` when it needs all of it, else its tasks
  ``afterok:${A}_3:${A}_7``);
* jobs that each wait for one job of the same array (an export after each student, a transfer
  after each export) get an array with the *same task ids* as the jobs they wait for and
  ``aftercorr:$A``: task i starts when task i of A succeeded;
* the report waits for every array with ``afterany``, and every array is submitted with
  ``--kill-on-invalid-dep=yes``, so that jobs behind a failed one are cancelled instead of
  pending forever and the report still runs over what finished.

Each array script maps ``$SLURM_ARRAY_TASK_ID`` to a job name and runs
``tools/grid.py SPEC --run-job NAME --launcher slurm`` in the batch step: the job is skipped
when done, resumed when it holds a checkpoint, its training command runs under ``srun`` (one
task per GPU), and the done marker is written after it succeeded. ``submit.sh`` submits the
arrays in order and passes each array's id to the ones that wait for it.
"""
import math
import os
import os.path as osp
import shlex
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .job import Job, JobGraph


@dataclass
class Array:
    """One ``sbatch --array`` submission."""
    index: int
    stage: str
    kind: str
    gpus: int
    tasks: Dict[int, str] = field(default_factory=dict)  # task id -> job name
    dependency: str = ''

    @property
    def var(self) -> str:
        return f'A{self.index:03d}'

    @property
    def script(self) -> str:
        return f'array_{self.index:03d}_{self.stage.replace("/", "_")}.sh'


def _waves(jobs: List[Job]) -> Dict[str, int]:
    wave: Dict[str, int] = {}
    for job in jobs:  # dependency order
        wave[job.name] = 1 + max((wave[d] for d in job.deps), default=-1)
    return wave


def direct_deps(jobs: List[Job]) -> Dict[str, List[str]]:
    """Each job's dependencies without those implied by another one (transitive reduction):
    a transfer run needs its export, not also the data set-up the export already waited for."""
    ancestors: Dict[str, set] = {}
    out: Dict[str, List[str]] = {}
    for job in jobs:  # dependency order
        ancestors[job.name] = set(job.deps).union(*(ancestors[d] for d in job.deps))
        implied = set().union(*(ancestors[d] for d in job.deps))
        out[job.name] = sorted(d for d in set(job.deps) if d not in implied)
    return out


def plan_arrays(graph: JobGraph) -> List[Array]:
    """Group the jobs into arrays and compute each array's dependency (module docstring)."""
    jobs = graph.ordered()
    wave = _waves(jobs)
    needs = direct_deps(jobs)
    where: Dict[str, Tuple[Array, int]] = {}
    arrays: List[Array] = []

    def new(stage: str, kind: str, gpus: int) -> Array:
        arrays.append(Array(len(arrays), stage, kind, gpus))
        return arrays[-1]

    def dep_text(deps: List[str], kind: str = 'afterok') -> str:
        parts: List[str] = []
        for arr in {id(where[d][0]): where[d][0] for d in deps}.values():
            mine = sorted(where[d][1] for d in deps if where[d][0] is arr)
            if len(mine) == len(arr.tasks):
                parts.append(f'${{{arr.var}}}')
            else:
                parts += [f'${{{arr.var}}}_{i}' for i in mine]
        return f'{kind}:' + ':'.join(parts) if parts else ''

    for level in range(max(wave.values(), default=-1) + 1):
        members = [j for j in jobs if wave[j.name] == level]
        buckets: Dict[tuple, List[Job]] = {}
        for job in members:
            key = (job.stage, job.kind, job.gpus, job.always, tuple(needs[job.name]))
            buckets.setdefault(key, []).append(job)
        corr: Dict[tuple, List[Job]] = {}
        for (stage, kind, gpus, always, deps), group in buckets.items():
            if len(group) == 1 and len(deps) == 1 and not always:
                src = where[deps[0]][0]
                corr.setdefault((stage, kind, gpus, src.index), []).append(group[0])
                continue
            arr = new(stage, kind, gpus)
            for i, job in enumerate(group):
                arr.tasks[i] = job.name
                where[job.name] = (arr, i)
            if always:
                arr.dependency = 'afterany:' + ':'.join(
                    f'${{{a.var}}}' for a in arrays if a is not arr)
                if arr.dependency == 'afterany:':
                    arr.dependency = ''
            else:
                arr.dependency = dep_text(list(deps))
        for (stage, kind, gpus, _), group in corr.items():
            open_arrays: List[Array] = []
            for job in group:
                src, src_id = where[needs[job.name][0]]
                arr = next((a for a in open_arrays if src_id not in a.tasks), None)
                if arr is None:
                    arr = new(stage, kind, gpus)
                    arr.dependency = f'aftercorr:${{{src.var}}}'
                    open_arrays.append(arr)
                arr.tasks[src_id] = job.name
                where[job.name] = (arr, src_id)
    return arrays


def _header(arr: Array, partition: str, out_dir: str, gpus_per_node: int,
            cpus_per_task: int, time_limit: Optional[str]) -> List[str]:
    ids = ','.join(str(i) for i in sorted(arr.tasks))
    lines = ['#!/usr/bin/env bash', f'#SBATCH --job-name=grid-{arr.stage.replace("/", "_")}',
             f'#SBATCH --partition={partition}', f'#SBATCH --array={ids}',
             f'#SBATCH --output={osp.join(out_dir, "logs", "%x_%A_%a.out")}',
             '#SBATCH --kill-on-invalid-dep=yes']
    if arr.kind == 'train' and arr.gpus > 0:
        per_node = min(arr.gpus, gpus_per_node)
        lines += [f'#SBATCH --nodes={math.ceil(arr.gpus / per_node)}',
                  f'#SBATCH --ntasks-per-node={per_node}', f'#SBATCH --gres=gpu:{per_node}',
                  f'#SBATCH --cpus-per-task={cpus_per_task}']
    else:
        lines += ['#SBATCH --ntasks=1', f'#SBATCH --cpus-per-task={cpus_per_task}']
    if time_limit:
        lines.append(f'#SBATCH --time={time_limit}')
    return lines


def write_slurm(graph: JobGraph, out_dir: str, spec_path: str, work_root: str, partition: str,
                python: str, grid_tool: str, gpus_per_node: int = 8, cpus_per_task: int = 5,
                time_limit: Optional[str] = None, cwd: Optional[str] = None) -> List[Array]:
    """Write one script per array and ``submit.sh`` into ``out_dir``; returns the arrays.

    The jobs run in ``cwd`` (default: the current directory), where the configs' relative
    paths (``data/``, ``checkpoints/``) are meant to resolve, as for a local run.
    """
    arrays = plan_arrays(graph)
    cwd = cwd or os.getcwd()
    os.makedirs(osp.join(out_dir, 'logs'), exist_ok=True)
    q = shlex.quote
    for arr in arrays:
        lines = _header(arr, partition, out_dir, gpus_per_node, cpus_per_task, time_limit)
        lines += ['set -euo pipefail', 'case "$SLURM_ARRAY_TASK_ID" in']
        lines += [f'  {i}) JOB={q(name)} ;;' for i, name in sorted(arr.tasks.items())]
        lines += ['  *) echo "no job for task $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;', 'esac',
                  f'cd {q(cwd)}',
                  '# a per-job rendezvous port: two jobs on one node do not clash',
                  'export MASTER_PORT=${MASTER_PORT:-$((10000 + SLURM_JOB_ID % 50000))}',
                  f'exec {q(python)} {q(grid_tool)} {q(spec_path)} --work-root {q(work_root)} '
                  '--run-job "$JOB" --launcher slurm', '']
        path = osp.join(out_dir, arr.script)
        with open(path, 'w') as f:
            f.write('\n'.join(lines))
        os.chmod(path, 0o755)
    sub = ['#!/usr/bin/env bash',
           f'# {len(graph)} jobs in {len(arrays)} arrays; generated by tools/grid.py --slurm',
           'set -euo pipefail', 'cd "$(dirname "${BASH_SOURCE[0]}")"',
           'submit() {  # submit VAR SCRIPT [sbatch options]: the array id goes into VAR',
           '  local var=$1 script=$2; shift 2', '  local id',
           '  id=$(sbatch --parsable "$@" "$script")', '  id=${id%%;*}',
           '  printf -v "$var" %s "$id"', '  echo "$script: $id"', '}']
    for arr in arrays:
        opts = f' --dependency={arr.dependency}' if arr.dependency else ''
        sub.append(f'submit {arr.var} {arr.script}{opts}')
    sub.append('')
    with open(osp.join(out_dir, 'submit.sh'), 'w') as f:
        f.write('\n'.join(sub))
    os.chmod(osp.join(out_dir, 'submit.sh'), 0o755)
    return arrays
