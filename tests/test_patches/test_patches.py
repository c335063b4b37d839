"""kd_transfer/patches: what importing kd_transfer changes upstream, and the switches."""
import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

import kd_transfer  # noqa: F401
from kd_transfer import patches
from kd_transfer.patches.base import Patch, PatchVersionWarning

REPO = Path(__file__).resolve().parents[2]

# What each patch replaces, read in a fresh process: True when kd_transfer's version is there.
PROBE = textwrap.dedent('''
    import json, torch, kd_transfer
    from mmengine.fileio.backends.local_backend import LocalBackend
    from mmengine.hooks import checkpoint_hook
    from mmengine.logging.history_buffer import HistoryBuffer
    from mmengine.model.weight_init import PretrainedInit
    from mmengine.registry import WEIGHT_INITIALIZERS
    from mmengine.runner import checkpoint as ckpt
    state = dict(
        atomic_writes=[LocalBackend.put.__module__ != 'mmengine.fileio.backends.local_backend',
                       LocalBackend.put_text.__module__ != 'mmengine.fileio.backends.local_backend',
                       'open' in vars(checkpoint_hook)],
        safe_globals=[HistoryBuffer in torch.serialization.get_safe_globals()],
        safe_checkpoint_loader=[ckpt.CheckpointLoader._schemes[''] is not ckpt.load_from_local,
                                ckpt.CheckpointLoader.load_checkpoint.__func__.__module__
                                != 'mmengine.runner.checkpoint'],
        strict_pretrained=[WEIGHT_INITIALIZERS.get('Pretrained') is not PretrainedInit])
    # kd_transfer's own loads work whether or not torch was told about the types
    from mmengine.runner.checkpoint import save_checkpoint
    from kd_transfer.safe_load import load_checkpoint_file
    buffer = HistoryBuffer()
    buffer.update(1.0)
    buffer.update(2.0)
    save_checkpoint({'message_hub': buffer}, 'c.pth')
    assert load_checkpoint_file('c.pth')['message_hub'].current() == 2.0
    state['safe_globals'].append(HistoryBuffer in torch.serialization.get_safe_globals())
    print('STATE=' + json.dumps(state))
''')


#: The switches each probe process sets (the two cover every patch, each both ways).
SWITCHES = {
    'atomic_off': dict(KD_PATCH_ATOMIC_WRITES='0'),
    'others_off': dict(KD_PATCH_SAFE_GLOBALS='0', KD_PATCH_SAFE_LOADER='no',
                       KD_PATCH_STRICT_PRETRAINED='off'),
}


@pytest.fixture(scope='module')
def probes(tmp_path_factory):
    """Run :data:`PROBE` under each :data:`SWITCHES` entry, the processes side by side."""
    procs = {}
    for name, switches in SWITCHES.items():
        env = {k: v for k, v in os.environ.items()
               if k not in {p.env for p in patches.PATCHES}}
        env.update(PYTHONPATH=str(REPO), **switches)
        procs[name] = subprocess.Popen(
            [sys.executable, '-c', PROBE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env, cwd=str(tmp_path_factory.mktemp(name)))
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        line = [ln for ln in out.splitlines() if ln.startswith('STATE=')][0]
        # stderr only: stdout is what tools print (slurm_train.sh reads a number from it)
        assert 'kd_transfer: upstream patches applied:' not in out
        logged = [ln for ln in err.splitlines() if 'kd_transfer: upstream patches applied:' in ln]
        results[name] = json.loads(line[len('STATE='):]), logged
    return results


def test_one_switch_off_leaves_its_target_untouched_and_the_others_applied(probes):
    state, logged = probes['atomic_off']
    assert state == dict(atomic_writes=[False, False, False], safe_globals=[True, True],
                         safe_checkpoint_loader=[True, True], strict_pretrained=[True])
    assert len(logged) == 1, logged  # one INFO line, through mmengine's logger
    assert ' - mmengine - INFO - ' in logged[0]
    assert 'applied: safe_globals (torch ' in logged[0]
    assert 'strict_pretrained (mmengine ' in logged[0]
    assert 'switched off: atomic_writes (KD_PATCH_ATOMIC_WRITES)' in logged[0]


def test_the_other_switches_leave_torch_and_mmengine_untouched(probes):
    state, logged = probes['others_off']
    # kd_transfer's own load of a HistoryBuffer worked and left torch's list as it was
    assert state == dict(atomic_writes=[True, True, True], safe_globals=[False, False],
                         safe_checkpoint_loader=[False, False], strict_pretrained=[False])
    assert len(logged) == 1 and 'applied: atomic_writes (mmengine ' in logged[0]
    assert 'switched off: safe_globals (KD_PATCH_SAFE_GLOBALS), safe_checkpoint_loader ' \
           '(KD_PATCH_SAFE_LOADER), strict_pretrained (KD_PATCH_STRICT_PRETRAINED)' in logged[0]


def test_this_process_has_every_patch_applied():
    assert all(p.applied for p in patches.PATCHES)
    applied, off = patches.apply_all()  # again: nothing applied twice, nothing logged twice
    assert applied == list(patches.PATCHES) and off == []


def _counting_patch():
    calls = []
    patch = Patch(name='demo', env='KD_PATCH_DEMO', what='demo patch',
                  requires={'mmengine': ('0.10.0', '0.11')}, apply_fn=lambda: calls.append(1))
    return patch, calls


def test_version_outside_the_range_warns_naming_the_switch():
    patch, _ = _counting_patch()
    with pytest.warns(PatchVersionWarning) as record:
        assert patch.check_versions({'mmengine': '0.11.2'}) is False
    message = str(record[0].message)
    assert "patch 'demo'" in message and 'mmengine 0.11.2 (written for >=0.10.0, <0.11)' in message
    assert 'KD_PATCH_DEMO=0' in message
    with pytest.warns(PatchVersionWarning, match=r'mmengine 0\.9\.1 \(written for'):
        patch.check_versions({'mmengine': '0.9.1'})
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert patch.check_versions({'mmengine': '0.10.7'})  # inside: silent
        assert patch.check_versions({'mmengine': '0.10.99+local'})


def test_apply_is_once_and_respects_the_switch(monkeypatch):
    patch, calls = _counting_patch()
    monkeypatch.setenv('KD_PATCH_DEMO', 'False')
    assert patch.apply() is False and calls == []
    monkeypatch.setenv('KD_PATCH_DEMO', '1')
    monkeypatch.setattr('kd_transfer.patches.base.installed_version', lambda p: '0.12.0')
    with pytest.warns(PatchVersionWarning, match='mmengine 0.12.0'):
        assert patch.apply() is True
    assert patch.apply() is True and calls == [1]


def test_the_installed_versions_are_inside_every_range():
    """Fails after an upgrade of torch / mmengine: re-check the patches, then widen a range."""
    assert {p.name: p.version_problems() for p in patches.PATCHES} == {
        p.name: [] for p in patches.PATCHES}


def test_docs_table_lists_every_patch_and_switch():
    text = (REPO / 'docs' / 'patches.md').read_text()
    for p in patches.PATCHES:
        assert f'`{p.name}`' in text and f'`{p.env}=0`' in text, p.name
        for package, (low, high) in p.requires.items():
            assert f'{package} >={low}, <{high}' in text, (p.name, package)
