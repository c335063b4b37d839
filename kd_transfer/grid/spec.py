"""Read a grid spec and expand it into the jobs of the whole pipeline.

A spec is a Python (or YAML / JSON) file read with mmengine's ``Config``; the fields are
described in ``docs/grid.md``. In short::

    seeds = [0, 1, 2]
    classification = dict(config_dir='configs/distill/cifar100', methods=['kd', 'dkd'],
                          pairs=[('resnet56', 'resnet20')])
    transfer = [dict(name='det_voc07', students=['resnet20'],
                     config='configs/transfer/det/faster-rcnn_{student}_fpn_voc07.py')]
    hooks = [dict(name='reviewkd_hook', config='configs/reviewkd/...py', teacher=dict(...))]

expands into: setup jobs, teachers (``baseline_<teacher>`` at ``teacher_seed``, unless a
teacher checkpoint is given), undistilled students and distilled students at every seed, one
export per student that a later job needs, transfer runs, hook teachers and hook runs, and the
report. Every string may use ``{work_root}`` and ``{repo}``.
"""
import os.path as osp
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .job import FINAL, GridError, Job, JobGraph

REPO = str(Path(__file__).resolve().parents[2])
TOP_LEVEL = ('work_root', 'seeds', 'python', 'tools', 'setup', 'classification', 'transfer',
             'hooks', 'report', 'description')
CLS_KEYS = ('config_dir', 'pairs', 'methods', 'baselines', 'teacher_seed', 'teacher_checkpoints',
            'cfg_options', 'method_cfg_options', 'gpus', 'derive')
TRANSFER_KEYS = ('name', 'config', 'students', 'methods', 'gpus', 'cfg_options', 'derive',
                 'checkpoint_option', 'scratch')
HOOK_KEYS = ('name', 'config', 'teacher', 'student_backbone', 'seeds', 'gpus', 'cfg_options',
             'derive', 'teacher_checkpoint_option', 'checkpoint_option')
HOOK_TEACHER_KEYS = ('config', 'checkpoint', 'backbone', 'seed', 'gpus', 'cfg_options', 'derive')
DEFAULT_TOOLS = dict(train='tools/train.py', export='tools/export_backbone.py',
                     report='tools/transfer_report.py')


def _need(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise GridError(f'{where}: {what}')


def _keys(entry: Any, allowed: Sequence[str], where: str) -> dict:
    _need(isinstance(entry, dict), where, f'expected a dict, got {type(entry).__name__}')
    unknown = sorted(set(entry) - set(allowed))
    _need(not unknown, where, f'unknown field(s) {unknown}; expected some of {list(allowed)}')
    return dict(entry)


def load_spec(path: str) -> dict:
    """Read ``path`` (.py / .yaml / .json) with mmengine's Config into a plain dict."""
    from mmengine.config import Config
    if not osp.isfile(path):
        raise GridError(f'grid spec {path!r} does not exist')
    cfg = Config.fromfile(path).to_dict()
    spec = {k: v for k, v in cfg.items() if not k.startswith('_')}
    _keys(spec, TOP_LEVEL, path)
    spec['_file'] = osp.abspath(path)
    return spec


class Expander:
    """Turns a spec into a :class:`JobGraph` (see the module docstring)."""

    def __init__(self, spec: dict, work_root: Optional[str] = None) -> None:
        self.spec, self.where = spec, spec.get('_file', 'spec')
        root = work_root or spec.get('work_root')
        _need(bool(root), self.where, 'no work_root: set it in the spec or pass --work-root')
        self.root = osp.abspath(str(root).format(repo=REPO))
        seeds = spec.get('seeds', [0])
        _need(isinstance(seeds, (list, tuple)) and seeds and
              all(isinstance(s, int) for s in seeds), f'{self.where}: seeds',
              f'expected a non-empty list of integers, got {seeds!r}')
        self.seeds = list(seeds)
        self.python = spec.get('python') or sys.executable
        tools = dict(DEFAULT_TOOLS, **_keys(spec.get('tools') or {}, tuple(DEFAULT_TOOLS),
                                            f'{self.where}: tools'))
        self.tools = {k: self._path(v) for k, v in tools.items()}
        self.graph = JobGraph()
        self.setup_names: List[str] = []

    # ---- helpers ------------------------------------------------------------------------------
    def fmt(self, value: Any) -> Any:
        if isinstance(value, str):
            return value.replace('{work_root}', self.root).replace('{repo}', REPO)
        if isinstance(value, (list, tuple)):
            return type(value)(self.fmt(v) for v in value)
        if isinstance(value, dict):
            return {k: self.fmt(v) for k, v in value.items()}
        return value

    def _path(self, value: str) -> str:
        value = self.fmt(value)
        return value if osp.isabs(value) else osp.join(REPO, value)

    def _config(self, value: str, where: str) -> str:
        path = self._path(value)
        _need(osp.isfile(path), where, f'config {value!r} does not exist ({path})')
        return path

    @staticmethod
    def _opt_value(value: Any) -> str:
        if isinstance(value, (list, tuple)):
            inner = ','.join(Expander._opt_value(v) for v in value)
            return f'[{inner}]' if isinstance(value, list) else f'({inner})'
        return str(value)

    def _train(self, name: str, stage: str, config: str, seed: Optional[int], options: dict,
               deps: List[str], gpus: int, derive: Optional[dict]) -> Job:
        work_dir = osp.join(self.root, name)
        cfg_arg = config
        if derive:
            cfg_arg = osp.join(self.root, '.grid', 'configs', name.replace('/', '__') + '.py')
            derive = dict(self.fmt(derive), source=config)
        opts = dict(options)
        if seed is not None:
            opts['randomness.seed'] = seed
        argv = [self.python, self.tools['train'], cfg_arg, '--work-dir', work_dir]
        if opts:
            argv += ['--cfg-options'] + [f'{k}={self._opt_value(self.fmt(v))}'
                                         for k, v in opts.items()]
        return self.graph.add(Job(name=name, kind='train', stage=stage, argv=argv,
                                  work_dir=work_dir, deps=self.setup_names + deps, seed=seed,
                                  outputs=[osp.join(work_dir, FINAL)], gpus=int(gpus),
                                  derive=derive))

    # ---- stages -------------------------------------------------------------------------------
    def setup(self) -> None:
        for i, entry in enumerate(self.spec.get('setup') or []):
            where = f'{self.where}: setup[{i}]'
            entry = _keys(entry, ('name', 'argv', 'outputs'), where)
            _need(isinstance(entry.get('name'), str) and isinstance(entry.get('argv'), list),
                  where, 'needs name (str) and argv (list of str)')
            argv = [self.python if a == '{python}' else self.fmt(str(a)) for a in entry['argv']]
            name = f"setup/{entry['name']}"
            self.graph.add(Job(name=name, kind='setup', stage='setup', argv=argv,
                               work_dir=osp.join(self.root, name),
                               outputs=[self.fmt(o) for o in entry.get('outputs', [])]))
            self.setup_names.append(name)

    def classification(self) -> None:
        cls = self.spec.get('classification')
        if not cls:
            self.cls_stems: Dict[str, dict] = {}
            return
        where = f'{self.where}: classification'
        cls = _keys(cls, CLS_KEYS, where)
        _need('config_dir' in cls, where, 'needs config_dir (e.g. configs/distill/cifar100)')
        cdir = cls['config_dir']
        pairs = [tuple(p) for p in cls.get('pairs', [])]
        _need(all(len(p) == 2 for p in pairs), where, 'pairs: expected (teacher, student) pairs')
        methods = list(cls.get('methods', []))
        teacher_seed = cls.get('teacher_seed', self.seeds[0])
        external = dict(cls.get('teacher_checkpoints') or {})
        options, per_method = cls.get('cfg_options') or {}, cls.get('method_cfg_options') or {}
        gpus, derive = cls.get('gpus', 1), cls.get('derive')
        self.cls_stems = {}

        def run(arch: str, method: str, stage: str, seed: int, extra: dict, deps: List[str],
                teacher: str = '') -> Job:
            stem = f'baseline_{arch}' if method == 'baseline' else f'{method}_{teacher}_{arch}'
            config = self._config(f'{cdir}/{stem}.py', f'{where}: {stage} {stem}')
            opts = dict(options, **(per_method.get(method) or {}), **extra)
            job = self._train(f'cls/{stem}/s{seed}', stage, config, seed, opts, deps, gpus,
                              derive)
            entry = self.cls_stems.setdefault(stem, dict(arch=arch, method=method, seeds=[]))
            if seed not in entry['seeds']:
                entry['seeds'].append(seed)
            return job

        teachers: Dict[str, Optional[str]] = {}
        for teacher, _ in pairs:
            if teacher in teachers or not methods:  # no distilled student: no teacher needed
                continue
            if teacher in external:
                teachers[teacher] = None
            else:
                teachers[teacher] = run(teacher, 'baseline', 'teacher', teacher_seed, {},
                                        []).name
        students = list(dict.fromkeys(s for _, s in pairs))
        if cls.get('baselines', True):
            for student in students:
                for seed in self.seeds:
                    run(student, 'baseline', 'baseline', seed, {}, [])
        for teacher, student in pairs if methods else []:
            tjob = teachers[teacher]
            ckpt = self._path(external[teacher]) if tjob is None else \
                osp.join(self.graph[tjob].work_dir, FINAL)
            for method in methods:
                for seed in self.seeds:
                    run(student, method, 'distill', seed, {'model.teacher_checkpoint': ckpt},
                        [tjob] if tjob else [], teacher)

    def export(self, stem: str, seed: int, where: str) -> Job:
        """The export job of classification run ``stem`` at ``seed`` (added once)."""
        src = f'cls/{stem}/s{seed}'
        _need(src in self.graph.jobs, where,
              f'no classification run {stem!r} at seed {seed} in this grid')
        name = f'export/{stem}/s{seed}'
        work_dir = osp.join(self.root, name)
        out = osp.join(work_dir, 'backbone.pth')
        argv = [self.python, self.tools['export'], self.graph[src].outputs[0], out]
        return self.graph.add(Job(name=name, kind='export', stage='export', argv=argv,
                                  work_dir=work_dir, deps=[src], seed=seed, outputs=[out]))

    def transfer(self) -> None:
        for i, entry in enumerate(self.spec.get('transfer') or []):
            where = f'{self.where}: transfer[{i}]'
            entry = _keys(entry, TRANSFER_KEYS, where)
            _need(isinstance(entry.get('name'), str) and '{student}' in entry.get('config', ''),
                  where, "needs name and a config template with '{student}'")
            students = entry.get('students')
            _need(isinstance(students, (list, tuple)) and students, where,
                  'students: expected a non-empty list of student architectures')
            methods = entry.get('methods')
            key = entry.get('checkpoint_option', 'model.backbone.init_cfg.checkpoint')
            for student in students:
                config = self._config(entry['config'].replace('{student}', student),
                                      f'{where} ({student})')
                stems = [s for s, run in self.cls_stems.items() if run['arch'] == student and
                         (methods is None or run['method'] in methods)]
                _need(stems, where, f'no classification run of student {student!r} in the grid')
                for stem in stems:
                    for seed in self.cls_stems[stem]['seeds']:
                        exp = self.export(stem, seed, where)
                        opts = dict(entry.get('cfg_options') or {}, **{key: exp.outputs[0]})
                        self._train(f"{entry['name']}/{stem}/s{seed}", entry['name'], config,
                                    seed, opts, [exp.name], entry.get('gpus', 1),
                                    entry.get('derive'))
                if entry.get('scratch'):  # the same detector / segmenter, random backbone
                    key_none = key.rsplit('.', 1)[0] if key.endswith('.checkpoint') else key
                    for seed in self.seeds:
                        opts = dict(entry.get('cfg_options') or {}, **{key_none: None})
                        self._train(f"{entry['name']}/scratch_{student}/s{seed}", entry['name'],
                                    config, seed, opts, [], entry.get('gpus', 1),
                                    entry.get('derive'))

    def hooks(self) -> None:
        for i, entry in enumerate(self.spec.get('hooks') or []):
            where = f'{self.where}: hooks[{i}]'
            entry = _keys(entry, HOOK_KEYS, where)
            _need(isinstance(entry.get('name'), str) and 'config' in entry and 'teacher' in entry,
                  where, 'needs name, config and teacher')
            config = self._config(entry['config'], where)
            teacher = _keys(entry['teacher'], HOOK_TEACHER_KEYS, f'{where}.teacher')
            tkey = entry.get('teacher_checkpoint_option', 'custom_hooks.0.teacher_checkpoint')
            bkey = entry.get('checkpoint_option', 'model.backbone.init_cfg.checkpoint')
            deps: List[str] = []
            if 'checkpoint' in teacher:
                tckpt = self._path(teacher['checkpoint'])
            else:
                _need('config' in teacher, f'{where}.teacher', 'needs config or checkpoint')
                tseed = teacher.get('seed', self.seeds[0])
                topts = dict(teacher.get('cfg_options') or {})
                tdeps = []
                if teacher.get('backbone'):
                    exp = self.export(teacher['backbone'], tseed, f'{where}.teacher.backbone')
                    topts[bkey] = exp.outputs[0]
                    tdeps.append(exp.name)
                tjob = self._train(f"{entry['name']}/teacher/s{tseed}", 'hook_teacher',
                                   self._config(teacher['config'], f'{where}.teacher'), tseed,
                                   topts, tdeps, teacher.get('gpus', 1), teacher.get('derive'))
                tckpt, deps = tjob.outputs[0], [tjob.name]
            for seed in entry.get('seeds') or self.seeds:
                opts = dict(entry.get('cfg_options') or {}, **{tkey: tckpt})
                sdeps = list(deps)
                stem = entry.get('student_backbone')
                if stem:
                    exp = self.export(stem, seed, f'{where}.student_backbone')
                    opts[bkey] = exp.outputs[0]
                    sdeps.append(exp.name)
                tag = stem or 'default'
                self._train(f"{entry['name']}/{tag}/s{seed}", 'hook', config, seed, opts, sdeps,
                            entry.get('gpus', 1), entry.get('derive'))

    def report(self) -> None:
        entry = _keys(self.spec.get('report') or {}, ('note', 'baseline_method', 'out', 'published'),
                      f'{self.where}: report')
        tops = list(dict.fromkeys(j.name.split('/')[0] for j in self.graph.jobs.values()
                                  if j.kind == 'train'))
        _need(tops, self.where, 'the spec has no training run')
        out = self.fmt(entry.get('out', '{work_root}/report'))
        argv = [self.python, self.tools['report'], *[osp.join(self.root, t) for t in tops],
                '--out', out, '--force']
        if entry.get('note'):
            argv += ['--note', self.fmt(entry['note'])]
        if entry.get('published') is False:
            argv.append('--no-published')
        if entry.get('baseline_method'):
            argv += ['--baseline-method', entry['baseline_method']]
        self.graph.add(Job(name='report', kind='report', stage='report', argv=argv,
                           work_dir=osp.join(self.root, '.grid', 'report'),
                           deps=[j for j in self.graph.jobs], always=True))

    def expand(self) -> JobGraph:
        self.setup()
        self.classification()
        self.transfer()
        self.hooks()
        self.report()
        self.graph.ordered()  # checks dependencies and cycles
        self.graph.root = self.root
        return self.graph


def expand_spec(spec_or_path: Any, work_root: Optional[str] = None) -> JobGraph:
    """The job graph of a spec (a dict, or the path of a spec file)."""
    spec = load_spec(spec_or_path) if isinstance(spec_or_path, str) else spec_or_path
    return Expander(spec, work_root).expand()
