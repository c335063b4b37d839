"""One command for a whole benchmark: a spec expands into jobs with dependencies, run locally
(one after the other, or through tools/dist_train.sh) or written as Slurm job arrays.

* :mod:`.spec`: read a spec file, expand it into a :class:`~.job.JobGraph`;
* :mod:`.job`: jobs, dependency order, done markers and resume state on disk;
* :mod:`.local`: run the graph here; :mod:`.slurm`: write Slurm arrays and ``submit.sh``;
* :mod:`.derive`: configs changed by a named transform before a run (short demo schedules).
"""
from .job import GridError, Job, JobGraph, job_state
from .spec import expand_spec, load_spec

__all__ = ['GridError', 'Job', 'JobGraph', 'job_state', 'expand_spec', 'load_spec']
