"""Fifth hardening pass (docs/fault_pass.md): messages that said the wrong thing."""
from types import SimpleNamespace

import pytest
import torch

from kd_transfer.export import ExportError, load_source
from kd_transfer.guards import FiniteLossHook, NonFiniteLossError
from kd_transfer.safe_load import load_checkpoint_file


def test_a_directory_given_as_checkpoint_is_called_a_directory(tmp_path):
    """It used to be reported as 'does not exist'."""
    with pytest.raises(ExportError, match=r"source checkpoint '.*' is a directory"):
        load_source(str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"checkpoint '.*' is a directory"):
        load_checkpoint_file(str(tmp_path))
    with pytest.raises(ExportError, match='does not exist'):
        load_source(str(tmp_path / 'missing.pth'))


def test_nan_before_any_checkpoint_does_not_advise_resuming(tmp_path):
    """With no checkpoint written, 'resume from that checkpoint' named nothing."""
    nan = {'loss': torch.tensor(float('nan')), 'loss_kd': torch.tensor(float('nan'))}
    runner = SimpleNamespace(iter=0, epoch=0, work_dir=str(tmp_path))
    with pytest.raises(NonFiniteLossError) as err:
        FiniteLossHook().after_train_iter(runner, 0, outputs=nan)
    assert 'no checkpoint had been written yet' in str(err.value)
    assert 'resume from that checkpoint' not in str(err.value)
    assert str(err.value).endswith('or start again.')
    (tmp_path / 'iter_2.pth').write_bytes(b'x')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_2.pth'))
    with pytest.raises(NonFiniteLossError, match=r'iter_2\.pth\. .*or resume from that checkpoint'):
        FiniteLossHook().after_train_iter(runner, 0, outputs=nan)
