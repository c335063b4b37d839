"""Issue 16, item 4: CPU runs started by tools/train.py (and so by dist_train.sh /
slurm_train.sh) get glibc's raised mmap / trim thresholds; KD_MALLOC=default turns them off."""
import os.path as osp
import subprocess
import sys

import pytest

TOOLS = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tools')
sys.path.insert(0, TOOLS)
from allocator_env import steady_malloc_env  # noqa: E402


def test_cpu_run_gets_the_steady_thresholds():
    # 32 MiB: glibc ignores an mmap threshold above HEAP_MAX_SIZE / 2 = 32 MiB on 64-bit
    assert steady_malloc_env({}, has_gpu=False) == {
        'MALLOC_MMAP_THRESHOLD_': '33554432', 'MALLOC_TRIM_THRESHOLD_': '1073741824'}
    assert steady_malloc_env({'KD_DEVICE': 'cpu'}, has_gpu=True) != {}


@pytest.mark.parametrize('env', [{'KD_MALLOC': 'default'}, {'MALLOC_MMAP_THRESHOLD_': '65536'}])
def test_opt_out_and_user_settings_win(env):
    assert steady_malloc_env(env, has_gpu=False) == {}


def test_gpu_run_is_left_alone_and_bad_value_refused():
    assert steady_malloc_env({}, has_gpu=True) == {}
    with pytest.raises(ValueError, match="KD_MALLOC must be 'steady' or 'default', got 'fast'"):
        steady_malloc_env({'KD_MALLOC': 'fast'}, has_gpu=False)


def test_reexec_sets_the_variables_before_the_process_runs(tmp_path):
    """A script doing what tools/train.py does first sees the variables in its own process."""
    script = tmp_path / 'probe.py'
    script.write_text(f'import os, sys\nsys.path.insert(0, {TOOLS!r})\n'
                      'from allocator_env import reexec_with_steady_malloc\n'
                      'reexec_with_steady_malloc()\n'
                      "print(os.environ.get('MALLOC_MMAP_THRESHOLD_'))\n")
    env = {'PATH': '/usr/bin:/bin', 'KD_DEVICE': 'cpu'}
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == '33554432', out.stderr
    env['KD_MALLOC'] = 'default'
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == 'None', out.stderr
