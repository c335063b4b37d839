"""Shared pytest fixtures.

``synthetic_data`` generates the synthetic shapes world once per test session (about 0.2 s)
and returns its root directory::

    <root>/VOCdevkit/VOC2007/{JPEGImages,Annotations,SegmentationClass}/000001..000012.*
        ImageSets/Main/{trainval (000001-000008), train, val, test (000009-000012)}.txt
        ImageSets/Segmentation/{train (=trainval), val (=test), trainval, test}.txt
    <root>/coco/annotations/instances_{train2017,val2017}.json   (8 and 4 images)
    <root>/coco/{train2017,val2017}/*.jpg
    <root>/cifar100/cifar-100-python/{train (64 images), test (32 images), meta}
    <root>/synthetic_info.json

All VOC / COCO images are 64 x 64 (SYNTHETIC_SIZES). Tests must treat the directory as
read-only: it is shared by the whole session.

The other fixtures wrap :mod:`kd_transfer.testing.helpers` (imported as ``hh`` by the tests
that start tools): ``teacher14``, ``cls_config``, ``train_tool``, ``free_port``, and two that
the fault tests request with ``pytestmark = pytest.mark.usefixtures(...)``: ``one_thread``
and ``no_leftover_processes``.

Markers (registered in pyproject.toml): ``slow`` marks what ``make test-fast`` skips; see
``SLOW`` below for the tests marked here rather than in their own file.
"""
import os
from pathlib import Path

import pytest

# The tests start multi-process runs (tools/dist_train.sh, torchrun) on this GPU-less machine:
# that CPU fallback must be asked for explicitly (kd_transfer/launch.py).
os.environ.setdefault('KD_DEVICE', 'cpu')

#: Arguments of ``make_synthetic_data`` used by the ``synthetic_data`` fixture.
SYNTHETIC_SIZES = dict(seed=0, num_train=8, num_val=4, image_size=64, cifar_train=64,
                       cifar_test=32)


@pytest.fixture(scope='session')
def synthetic_data(tmp_path_factory) -> Path:
    """Root of a small synthetic VOC2007 / COCO2017 / CIFAR-100 tree (see module docstring)."""
    from kd_transfer.datasets.synthetic import make_synthetic_data
    out = tmp_path_factory.mktemp('synthetic') / 'data'
    return make_synthetic_data(out, log=lambda msg: None, **SYNTHETIC_SIZES)


@pytest.fixture
def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for torchrun's rendezvous in multi-process tests)."""
    from kd_transfer.testing.helpers import free_port
    return free_port()


@pytest.fixture
def no_leftover_processes():
    """Kill what a test started and left running (only when it failed half-way)."""
    from kd_transfer.testing.helpers import kill_leftovers
    yield
    kill_leftovers()


@pytest.fixture(scope='module')
def one_thread():
    """Tiny models run faster on one thread than on two contended ones (as the subprocesses)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='session')
def teacher14(tmp_path_factory) -> Path:
    """A (randomly initialised, fixed-seed) resnet14 KDClassifier checkpoint."""
    import torch
    from mmengine.registry import MODELS
    import kd_transfer  # noqa: F401
    torch.manual_seed(1)
    model = MODELS.build(dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=14)))
    path = tmp_path_factory.mktemp('teacher') / 'resnet14.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    return path


@pytest.fixture()
def cls_config(synthetic_data, teacher14, tmp_path):
    """``cls_config(**kw)`` writes a tiny distillation config (helpers.write_cls_config)."""
    from kd_transfer.testing.helpers import write_cls_config

    def make(name='cfg.py', **kw):
        kw.setdefault('deterministic', False)  # in-process runs must not flip global torch flags
        return write_cls_config(tmp_path / name, synthetic_data / 'cifar100', teacher14, **kw)
    return make


@pytest.fixture()
def train_tool():
    """``tools/train.py`` imported in this process (its ``main(argv)``)."""
    from kd_transfer.testing.helpers import load_tool
    return load_tool('train')


# --- the ``slow`` marker: ``make test-fast`` (pytest -m 'not slow') skips these -------------
# A test is slow when it trains through a whole config, starts a tool / torchrun subprocess,
# or takes more than about a second on a quiet 2-core machine. Mark a new one here (by file and
# test function; '*' = the whole file) or with ``@pytest.mark.slow`` in its file, or have it
# use one of SLOW_FIXTURES. ``make test`` (CI) runs everything.
SLOW = {
    'test_demo.py': '*',  # the quick demo end to end (~95 s)
    'test_launch.py': '*',  # torchrun, 2 processes
    'test_resume.py': '*',  # a training subprocess killed and resumed
    'test_stack/test_stack.py': ['test_faster_rcnn_r18_fpn_train_and_predict_step_on_cpu',
                                 'test_deeplabv3plus_r18_train_and_predict_step_on_cpu'],
    'test_gpu_conditions.py': ['test_killed_write_keeps_the_previous_state_and_leaves_nothing'],
    'test_fileio.py': ['test_killed_during_mmengine_checkpoint_save_keeps_previous_checkpoint'],
    'test_safe_load.py': ['test_plain_torch_load_refuses_runner_checkpoint_without_kd_transfer'],
    'test_safe_load_range.py': ['test_torch_without_add_safe_globals_imports_and_resumes'],
    'test_configs/test_cls_configs.py': ['test_cifar_config_trains_and_validates',
                                         'test_imagenet_config_trains_and_validates'],
    'test_configs/test_focal_sweep.py': ['test_flsd53_config_trains'],  # ~20 s CPU
    'test_configs/test_transfer_configs.py': ['test_tiny_train_and_eval'],
    'test_export/test_export_backbone.py': ['test_real_runner_checkpoint'],
    'test_grid/test_grid.py': ['test_killed_grid_resumes_without_redoing_finished_runs',
                               'test_worker_pool_runs_each_job_after_its_dependencies'],
    'test_hooks/test_teacher_advice.py': [
        'test_teacher_with_non_finite_outputs_gets_teacher_advice'],
    'test_models/test_norm_eval.py': [
        'test_detection_configs_freeze_and_segmentation_configs_do_not'],
    'test_tools/test_bad_inputs.py': ['test_malformed_annotation_through_train_tool'],
    'test_hooks/test_reviewkd_hook.py': [
        'test_deeplabv3plus_backbone_stages_distil',
        'test_two_process_gloo_run_keeps_abf_identical_on_both_ranks',
        'test_two_process_deeplab_run_with_the_hook'],
    'test_tools/test_dist_and_mim.py': '*',  # torchrun and mim subprocesses
    'test_tools/test_distributed.py': '*',  # torchrun, 2 processes
    'test_tools/test_launch_scripts.py': ['test_slurm_cpus_per_task_cover_the_workers'],
    'test_tools/test_make_transfer_config.py': ['test_generated_config_trains'],
}
#: Fixtures that train a model, export backbones or start subprocesses (module-scoped):
#: every test using one is slow.
SLOW_FIXTURES = {
    'det_teacher',  # test_hooks/test_reviewkd_hook.py: detection runners with a teacher
    'run_a',  # test_hooks/test_reviewkd_hook.py: a ReviewKD detection run
    'exports',  # test_tools/test_make_transfer_config.py, test_bad_inputs.py: exported backbones
    'killed_writers',  # test_tools/test_no_overwrite.py: writers SIGKILLed half-way
    'probes',  # test_patches/test_patches.py: two fresh interpreters importing kd_transfer
}


def pytest_collection_modifyitems(config, items):
    tests_dir = Path(__file__).parent
    for item in items:
        if tests_dir not in item.path.parents:
            continue
        names = SLOW.get(item.path.relative_to(tests_dir).as_posix(), ())
        if names == '*' or getattr(item, 'originalname', item.name) in names \
                or SLOW_FIXTURES.intersection(getattr(item, 'fixturenames', ())):
            item.add_marker(pytest.mark.slow)
