"""tools/grid.py: spec expansion, dependencies, Slurm scripts, and resuming a killed grid.

Expected counts and dependency edges are worked out by hand from the paper grid (7 methods x 7
pairs x 3 seeds, which students have transfer configs), not read from the expander.
"""
import json
import os
import os.path as osp
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kd_transfer.grid import GridError, expand_spec, job_state
from kd_transfer.grid.local import launch_argv
from kd_transfer.grid.slurm import write_slurm

REPO = Path(__file__).resolve().parents[2]
CIFAR_SPEC = str(REPO / 'configs' / 'grid' / 'paper_cifar100.py')
METHODS = ['kd', 'fitnets', 'at', 'dkd', 'reviewkd', 'gld', 'focal_kd']
PAIRS = [('resnet56', 'resnet20'), ('resnet110', 'resnet20'), ('resnet110', 'resnet32'),
         ('resnet32x4', 'resnet8x4'), ('wrn40_2', 'wrn16_2'), ('resnet32x4', 'shufflev1'),
         ('wrn40_2', 'shufflev1')]


@pytest.fixture(scope='module')
def cifar(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('paper_cifar100'))
    return root, expand_spec(CIFAR_SPEC, work_root=root)


def test_paper_cifar100_jobs_counted_by_hand(cifar):
    root, graph = cifar
    stages = {}
    for job in graph.jobs.values():
        stages[job.stage] = stages.get(job.stage, 0) + 1
    # resnet20 has 1 baseline + 7 methods x 2 teachers = 15 students, resnet8x4 1 + 7 = 8;
    # 3 seeds each; exports: 45 + 24 students + the resnet56 teacher for the hook detector
    assert stages == {'teacher': 4, 'baseline': 5 * 3, 'distill': 7 * 7 * 3,
                      'export': 45 + 24 + 1, 'det_voc07': 45 + 24, 'seg_voc07': 45 + 24,
                      'det_coco': 24, 'seg_coco': 24, 'hook_teacher': 1, 'hook': 3, 'report': 1}
    assert len(graph) == 427
    for method in METHODS:
        for teacher, student in PAIRS:
            for seed in (0, 1, 2):
                assert f'cls/{method}_{teacher}_{student}/s{seed}' in graph.jobs
    # students without transfer configs are not transferred
    assert not [n for n in graph.jobs if re.match(r'(det|seg)_.*_(resnet32|wrn16_2|shufflev1)/', n)]


def test_paper_cifar100_dependency_edges(cifar):
    root, graph = cifar
    order = [j.name for j in graph.ordered()]
    for job in graph.jobs.values():
        assert all(order.index(d) < order.index(job.name) for d in job.deps), job.name

    dkd = graph['cls/dkd_resnet110_resnet32/s2']
    assert dkd.deps == ['cls/baseline_resnet110/s0']  # the teacher, trained once at seed 0
    assert f'model.teacher_checkpoint={root}/cls/baseline_resnet110/s0/final.pth' in dkd.argv
    assert 'randomness.seed=2' in dkd.argv
    assert dkd.argv[1:5] == [str(REPO / 'tools/train.py'),
                             str(REPO / 'configs/distill/cifar100/dkd_resnet110_resnet32.py'),
                             '--work-dir', f'{root}/cls/dkd_resnet110_resnet32/s2']
    assert graph['cls/baseline_resnet32/s1'].deps == []

    exp = graph['export/gld_resnet32x4_resnet8x4/s1']
    assert exp.deps == ['cls/gld_resnet32x4_resnet8x4/s1']
    assert exp.argv[1:] == [str(REPO / 'tools/export_backbone.py'),
                            f'{root}/cls/gld_resnet32x4_resnet8x4/s1/final.pth',
                            f'{root}/export/gld_resnet32x4_resnet8x4/s1/backbone.pth']

    det = graph['det_coco/at_resnet32x4_resnet8x4/s0']
    assert det.deps == ['export/at_resnet32x4_resnet8x4/s0']
    assert det.argv[2] == str(REPO / 'configs/transfer/det/faster-rcnn_resnet8x4_fpn_1x_coco.py')
    assert ('model.backbone.init_cfg.checkpoint='
            f'{root}/export/at_resnet32x4_resnet8x4/s0/backbone.pth') in det.argv
    assert 'randomness.seed=0' in det.argv

    teacher_det = graph['hook_reviewkd_voc07/teacher/s0']
    assert teacher_det.deps == ['export/baseline_resnet56/s0']
    hook = graph['hook_reviewkd_voc07/baseline_resnet20/s1']
    assert sorted(hook.deps) == ['export/baseline_resnet20/s1', 'hook_reviewkd_voc07/teacher/s0']
    assert (f'custom_hooks.0.teacher_checkpoint={root}/hook_reviewkd_voc07/teacher/s0/final.pth'
            in hook.argv)

    report = graph['report']
    assert order[-1] == 'report' and len(report.deps) == 426 and report.always
    assert report.argv[2:6] == [f'{root}/cls', f'{root}/det_voc07', f'{root}/seg_voc07',
                                f'{root}/det_coco']


def _grid_main():
    import runpy
    return runpy.run_path(str(REPO / 'tools/grid.py'), run_name='grid_tool')['main']


def test_dry_run_lists_every_job(tmp_path, capsys):
    assert _grid_main()([CIFAR_SPEC, '--dry-run', '--work-root', str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f'427 jobs under {tmp_path}: teacher 4, baseline 15, distill 147')
    assert len(re.findall(r'^\[\d+/427\] ', out, re.M)) == 427
    block = out.split('] cls/kd_resnet56_resnet20/s1  (distill, seed 1; todo)\n')[1]
    command, after = block.splitlines()[:2]
    assert shlex.split(command[len('    $ '):])[-2:] == [
        f'model.teacher_checkpoint={tmp_path}/cls/baseline_resnet56/s0/final.pth',
        'randomness.seed=1']
    assert after == '    after: cls/baseline_resnet56/s0'
    assert not osp.exists(tmp_path / 'cls')  # a dry run writes nothing


def _parse_slurm(out_dir):
    """{array var: {task id: job}}, {array var: dependency text} from the written files."""
    tasks, deps = {}, {}
    for line in Path(out_dir, 'submit.sh').read_text().splitlines():
        if not line.startswith('submit A'):
            continue
        words = line.split()
        var, script = words[1], words[2]
        deps[var] = words[3][len('--dependency='):] if len(words) > 3 else ''
        text = Path(out_dir, script).read_text()
        tasks[var] = {int(i): shlex.split(n)[0]
                      for i, n in re.findall(r'^  (\d+)\) JOB=(.+) ;;$', text, re.M)}
        ids = re.search(r'^#SBATCH --array=(.+)$', text, re.M).group(1)
        assert sorted(tasks[var]) == [int(i) for i in ids.split(',')]
        assert '#SBATCH --kill-on-invalid-dep=yes' in text
    return tasks, deps


def test_slurm_dependency_lines(cifar, tmp_path):
    root, graph = cifar
    write_slurm(graph, str(tmp_path), CIFAR_SPEC, root, 'gpu', sys.executable,
                str(REPO / 'tools/grid.py'))
    tasks, deps = _parse_slurm(tmp_path)
    where = {job: (var, i) for var, t in tasks.items() for i, job in t.items()}
    assert sorted(where) == sorted(graph.jobs)  # every job in exactly one array task

    # What Slurm guarantees finished before each job, from the dependency lines alone
    before = {}
    for var, text in deps.items():
        for i, job in tasks[var].items():
            done = set()
            for clause in filter(None, text.split(',')):
                kind, *refs = clause.split(':')
                for ref in refs:
                    m = re.fullmatch(r'\$\{(A\d+)\}(?:_(\d+))?', ref)
                    src, idx = m.group(1), m.group(2)
                    if kind == 'aftercorr':
                        done.add(tasks[src][i])
                    elif idx is not None:
                        done.add(tasks[src][int(idx)])
                    else:
                        done.update(tasks[src].values())
            before[job] = done

    def closure(job, seen):
        for d in before[job]:
            if d not in seen:
                seen.add(d)
                closure(d, seen)
        return seen

    for job in graph.jobs.values():
        assert set(job.deps) <= closure(job.name, set()), job.name

    # hand-picked lines: the students of one teacher wait for that teacher's task only ...
    tvar, tidx = where['cls/baseline_resnet56/s0']
    svar, _ = where['cls/kd_resnet56_resnet20/s0']
    assert deps[svar] == f'afterok:${{{tvar}}}_{tidx}'
    assert {where[f'cls/{m}_resnet56_resnet20/s{s}'][0] for m in METHODS for s in (0, 1, 2)} \
        == {svar}
    # ... each export waits for the same task id of its student's array (aftercorr) ...
    evar, eidx = where['export/kd_resnet56_resnet20/s1']
    assert deps[evar] == f'aftercorr:${{{svar}}}'
    assert tasks[svar][eidx] == 'cls/kd_resnet56_resnet20/s1'
    # ... the hook run waits for its detector teacher and its backbone's export, and the
    # report for everything, even failed jobs (afterany)
    hvar, _ = where['hook_reviewkd_voc07/baseline_resnet20/s2']
    xvar, xidx = where['export/baseline_resnet20/s2']
    dvar, _ = where['hook_reviewkd_voc07/teacher/s0']
    assert deps[hvar] == f'afterok:${{{xvar}}}_{xidx}:${{{dvar}}}'
    rvar, _ = where['report']
    assert deps[rvar] == 'afterany:' + ':'.join(f'${{{v}}}' for v in tasks if v != rvar)
    det = Path(tmp_path, f'array_{int(where["det_coco/at_resnet32x4_resnet8x4/s0"][0][1:]):03d}'
               '_det_coco.sh').read_text()
    assert '#SBATCH --gres=gpu:8' in det and '--launcher slurm' in det


def test_launchers():
    from kd_transfer.grid.job import Job
    job = Job('cls/x/s0', 'train', 'baseline', ['py', '/r/tools/train.py', 'c.py', '--work-dir',
                                                'w', '--cfg-options', 'randomness.seed=0'], 'w')
    assert launch_argv(job) == job.argv
    assert launch_argv(job, 'dist', gpus=2, resume=True) == [
        'bash', '/r/tools/dist_train.sh', 'c.py', '2', '--work-dir', 'w', '--cfg-options',
        'randomness.seed=0', '--resume']
    assert launch_argv(job, 'slurm')[:5] == ['srun', '--kill-on-bad-exit=1', 'py', '-u',
                                             '/r/tools/train.py']
    assert launch_argv(job, 'slurm')[-2:] == ['--launcher', 'slurm']


def test_bad_specs_name_the_field(tmp_path):
    base = dict(_file='s.py', work_root=str(tmp_path), seeds=[0],
                classification=dict(config_dir='configs/distill/cifar100', methods=['kd'],
                                    pairs=[('resnet56', 'resnet20')]))
    expand_spec(base)
    with pytest.raises(GridError, match=r"classification: unknown field\(s\) \['method'\]"):
        expand_spec(dict(base, classification=dict(base['classification'], method=['kd'])))
    with pytest.raises(GridError, match=r'does not exist.*kd_resnet56_resnet32'):
        expand_spec(dict(base, classification=dict(base['classification'],
                                                   pairs=[('resnet56', 'resnet32')])))
    with pytest.raises(GridError, match='seeds'):
        expand_spec(dict(base, seeds=[]))
    with pytest.raises(GridError, match=r"transfer\[0\].*no classification run of student "
                       r"'resnet8x4'"):
        expand_spec(dict(base, transfer=[dict(
            name='det', students=['resnet8x4'],
            config='configs/transfer/det/faster-rcnn_{student}_fpn_voc07.py')]))


# ---- a killed grid resumes ---------------------------------------------------------------
def _stub_grid(tmp_path):
    for tool in ('train', 'export', 'report'):
        shutil.copy(Path(__file__).with_name('grid_stub.py'), tmp_path / f'stub_{tool}.py')
    (tmp_path / 'configs').mkdir()
    for name in ('baseline_t', 'baseline_s', 'kd_t_s', 'det_s'):
        (tmp_path / 'configs' / f'{name}.py').write_text('')
    spec = tmp_path / 'spec.py'
    spec.write_text(
        f'work_root = {str(tmp_path / "root")!r}\nseeds = [0, 1]\npython = {sys.executable!r}\n'
        f'tools = dict(train={str(tmp_path / "stub_train.py")!r}, '
        f'export={str(tmp_path / "stub_export.py")!r}, '
        f'report={str(tmp_path / "stub_report.py")!r})\n'
        f'classification = dict(config_dir={str(tmp_path / "configs")!r}, methods=["kd"], '
        'pairs=[("t", "s")])\n'
        f'transfer = [dict(name="det", config={str(tmp_path / "configs/det_{student}.py")!r}, '
        'students=["s"])]\n')
    return spec


def _calls(log):
    return [json.loads(line) for line in Path(log).read_text().splitlines()] \
        if osp.exists(log) else []


def test_killed_grid_resumes_without_redoing_finished_runs(tmp_path):
    spec = _stub_grid(tmp_path)
    root = tmp_path / 'root'
    log, ready = tmp_path / 'calls.jsonl', tmp_path / 'ready'
    env = dict(os.environ, GRID_STUB_LOG=str(log), GRID_STUB_READY=str(ready),
               GRID_STUB_HANG='cls/kd_t_s/s1')
    cmd = [sys.executable, str(REPO / 'tools/grid.py'), str(spec)]
    grid = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.time() + 120
        while not ready.exists() and time.time() < deadline and grid.poll() is None:
            time.sleep(0.1)
        assert ready.exists(), 'the hanging job never started'
        time.sleep(0.2)
        os.kill(int(ready.read_text()), signal.SIGKILL)  # killed mid-run, after epoch 1
        out, _ = grid.communicate(timeout=120)
    finally:
        if grid.poll() is None:
            grid.kill()
    assert grid.returncode == 1, out
    first = _calls(log)
    killed = f'{root}/cls/kd_t_s/s1'
    assert [c for c in first if c.get('work_dir') == killed] == [
        dict(tool='train', work_dir=killed, resume=False, epoch=1)]
    assert 'blocked (cls/kd_t_s/s1 did not finish)' in out and '[14/14' in out
    assert [c['tool'] for c in first].count('report') == 1  # the report still ran
    finished = {c['work_dir'] for c in first if c['tool'] == 'train_end'}
    assert len(finished) == 4 + 3  # 5 classification runs but the killed one; 3 transfer runs

    graph = expand_spec(str(spec))
    assert job_state(graph['cls/kd_t_s/s1']) == 'resume'
    assert job_state(graph['det/kd_t_s/s1']) == 'todo'
    assert job_state(graph['det/kd_t_s/s0']) == 'done'

    log.unlink()
    env.pop('GRID_STUB_HANG')
    out = subprocess.run(cmd, env=env, capture_output=True, text=True).stdout
    second = _calls(log)
    assert [(c['tool'], c.get('work_dir')) for c in second if c['tool'] != 'train'] == [
        ('train_end', killed), ('export', None),
        ('train_end', f'{root}/det/kd_t_s/s1'), ('report', None)], out
    resumed = second[1]
    assert resumed['resume'] is True and resumed['trained'] == [2]  # epoch 1 was not redone
    assert second[2]['src'] == f'{killed}/final.pth'
    assert out.count('done before, skipped') == 10
    assert osp.realpath(f'{killed}/final.pth') == f'{killed}/epoch_2.pth'


def test_short_cls_derived_config(tmp_path):
    from mmengine.config import Config

    from kd_transfer.grid.derive import materialize
    graph = expand_spec(dict(
        _file='s.py', work_root=str(tmp_path), seeds=[3],
        classification=dict(config_dir='configs/distill/cifar100', methods=['reviewkd'],
                            pairs=[('resnet56', 'resnet20')],
                            derive=dict(type='short_cls', data_root='{work_root}/data',
                                        epochs=4, batch=16))))
    job = graph['cls/reviewkd_resnet56_resnet20/s3']
    assert job.argv[2] == f'{tmp_path}/.grid/configs/cls__reviewkd_resnet56_resnet20__s3.py'
    cfg = Config.fromfile(materialize(job))
    assert cfg.train_cfg.max_epochs == 4 and cfg.train_dataloader.batch_size == 16
    assert cfg.train_dataloader.dataset.data_root == f'{tmp_path}/data'
    assert cfg.param_scheduler[0]['milestones'] == [3]
    assert cfg.model.distill_losses[0]['warmup'] == 1  # 20 epochs in the config
    assert cfg.model.student.backbone.depth == 20  # the model is the config's own


def test_tiny_transfer_keeps_its_lr_crop_and_test_proposals():
    """The demo's lr is the tiny batch's own: tools/train.py's linear scaling must leave it
    (it used to divide the det lr 0.02 by 16 / 2 = 8); crops and test proposals as asked."""
    from mmengine.config import Config

    from kd_transfer.batch_lr import apply_lr_policy
    from kd_transfer.grid.derive import tiny_transfer
    det = tiny_transfer(Config.fromfile('configs/transfer/det/faster-rcnn_resnet20_fpn_voc07.py'),
                        data_root='d', image_size=160, max_iters=10, num_val=5, lr=0.01,
                        rcnn_samples=64, test_proposals=100)
    assert apply_lr_policy(det, log=lambda m: None) == 0.01  # batch 2, lr for batch 2
    assert det.model.test_cfg.rpn.max_per_img == 100
    assert det.model.train_cfg.rcnn.sampler.num == 64
    seg = tiny_transfer(Config.fromfile('configs/transfer/seg/deeplabv3plus_resnet20_voc07.py'),
                        data_root='d', image_size=160, max_iters=10, num_val=5, lr=0.005,
                        crop_size=160)
    assert apply_lr_policy(seg, log=lambda m: None) == 0.005
    crop = [t for t in seg.train_dataloader.dataset.pipeline if t['type'] == 'RandomCrop']
    assert crop[0]['crop_size'] == (40, 40)  # 160 / input_downscale 4
    assert seg.model.data_preprocessor.size == (40, 40)


def test_method_options_and_transfer_filter(tmp_path):
    graph = expand_spec(dict(
        _file='s.py', work_root=str(tmp_path), seeds=[0],
        classification=dict(config_dir='configs/distill/cifar100', methods=['kd', 'focal_kd'],
                            pairs=[('resnet32x4', 'resnet8x4')],
                            method_cfg_options=dict(focal_kd={'model.ce_weight': 0.5})),
        transfer=[dict(name='det', students=['resnet8x4'], methods=['baseline', 'focal_kd'],
                       config='configs/transfer/det/faster-rcnn_{student}_fpn_voc07.py')]))
    assert 'model.ce_weight=0.5' in graph['cls/focal_kd_resnet32x4_resnet8x4/s0'].argv
    assert 'model.ce_weight=0.5' not in graph['cls/kd_resnet32x4_resnet8x4/s0'].argv
    assert sorted(n for n in graph.jobs if n.startswith('det/')) == [
        'det/baseline_resnet8x4/s0', 'det/focal_kd_resnet32x4_resnet8x4/s0']


def test_scratch_rows(tmp_path):
    graph = expand_spec(dict(
        _file='s.py', work_root=str(tmp_path), seeds=[0, 1],
        classification=dict(config_dir='configs/distill/cifar100', methods=[],
                            pairs=[('resnet56', 'resnet20')]),
        transfer=[dict(name='seg', students=['resnet20'], scratch=True,
                       config='configs/transfer/seg/deeplabv3plus_{student}_voc07.py')]))
    job = graph['seg/scratch_resnet20/s1']
    assert job.deps == [] and job.argv[-2:] == ['model.backbone.init_cfg=None', 'randomness.seed=1']
    assert sorted(n for n in graph.jobs if n.startswith('seg/')) == [
        'seg/baseline_resnet20/s0', 'seg/baseline_resnet20/s1', 'seg/scratch_resnet20/s0',
        'seg/scratch_resnet20/s1']
    assert 'cls/baseline_resnet56/s0' not in graph.jobs  # no distilled student, no teacher


def test_in_process_runs_and_skips(tmp_path, capsys):
    from kd_transfer.grid.local import run_graph
    spec = _stub_grid(tmp_path)
    log = tmp_path / 'calls.jsonl'
    os.environ['GRID_STUB_LOG'] = str(log)
    try:
        graph = expand_spec(str(spec))
        first = run_graph(graph, graph.root, in_process=True)
        assert set(first.values()) == {'done'} and len(first) == 14
        assert [c['tool'] for c in _calls(log)].count('train_end') == 9
        log.unlink()
        second = run_graph(graph, graph.root, in_process=True)
    finally:
        del os.environ['GRID_STUB_LOG']
    assert [c['tool'] for c in _calls(log)] == ['report']
    assert list(second.values()).count('skipped') == 13


def test_worker_pool_runs_each_job_after_its_dependencies(tmp_path):
    """tools/grid.py --in-process --jobs 2 (what make demo runs): two workers, every job started
    only after its dependencies finished, the report last; a rerun skips everything."""
    from kd_transfer.grid.pool import run_graph_pool
    spec = _stub_grid(tmp_path)
    os.environ['GRID_STUB_LOG'] = str(tmp_path / 'calls.jsonl')
    lines, again = [], []
    try:
        graph = expand_spec(str(spec))
        first = run_graph_pool(graph, graph.root, workers=2, log=lines.append)
        second = run_graph_pool(graph, graph.root, workers=2, log=again.append)
    finally:
        del os.environ['GRID_STUB_LOG']
    assert set(first.values()) == {'done'} and len(first) == 14
    started = {ln.split('] ')[1].split(':')[0]: i for i, ln in enumerate(lines)
               if ln.endswith(')') and ': running (' in ln}
    finished = {ln.split('] ')[1].split(':')[0]: i for i, ln in enumerate(lines)
                if ': done in ' in ln}
    assert set(started) == set(finished) == set(graph.jobs)
    for job in graph.jobs.values():
        assert all(finished[d] < started[job.name] for d in job.deps), job.name
    assert max(finished, key=finished.get) == 'report'
    assert list(second.values()).count('skipped') == 13 and second['report'] == 'done'


def test_run_job_checks_dependencies(tmp_path, capsys):
    """What a Slurm array task runs: one job, only once its dependencies are done."""
    grid_main = _grid_main()
    spec = _stub_grid(tmp_path)
    os.environ['GRID_STUB_LOG'] = str(tmp_path / 'calls.jsonl')
    try:
        assert grid_main([str(spec), '--run-job', 'cls/kd_t_s/s0']) == 1
        assert 'dependencies not finished: cls/baseline_t/s0' in capsys.readouterr().err
        assert grid_main([str(spec), '--run-job', 'cls/baseline_t/s0']) == 0
        assert grid_main([str(spec), '--run-job', 'cls/kd_t_s/s0']) == 0
        assert grid_main([str(spec), '--run-job', 'cls/kd_t_s/s0']) == 0  # done: skipped
        assert grid_main([str(spec), '--run-job', 'nope']) == 2
    finally:
        del os.environ['GRID_STUB_LOG']
    ends = [c['work_dir'] for c in _calls(tmp_path / 'calls.jsonl') if c['tool'] == 'train_end']
    assert ends == [f'{tmp_path}/root/cls/baseline_t/s0', f'{tmp_path}/root/cls/kd_t_s/s0']


def test_yaml_spec(tmp_path):
    spec = tmp_path / 'spec.yaml'
    spec.write_text(f'work_root: {tmp_path}\nseeds: [5]\nclassification:\n'
                    '  config_dir: configs/distill/cifar100\n  methods: [dkd]\n'
                    '  pairs: [[wrn40_2, wrn16_2]]\n')
    graph = expand_spec(str(spec))
    assert sorted(graph.jobs) == ['cls/baseline_wrn16_2/s5', 'cls/baseline_wrn40_2/s5',
                                  'cls/dkd_wrn40_2_wrn16_2/s5', 'report']
