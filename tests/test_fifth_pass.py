"""Fifth hardening pass (docs/fault_pass.md): messages that said the wrong thing."""
from types import SimpleNamespace

import pytest
import torch

from kd_transfer.export import ExportError, load_source
from kd_transfer.hooks.finite_loss import FiniteLossHook, NonFiniteLossError
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


def test_missing_base_names_the_config(tmp_path):
    """mmengine's error named only the missing file, not the config inheriting it."""
    from kd_transfer.launch import read_config
    cfg = tmp_path / 'child.py'
    cfg.write_text("_base_ = './not_there.py'\n")
    with pytest.raises(FileNotFoundError, match=r"config '.*child\.py' inherits '.*not_there\.py' "
                                                r'\(through _base_\), which does not exist'):
        read_config(str(cfg))


def test_voc_name_with_white_space_is_refused(tmp_path):
    """mmdet's XMLDataset compares ``<name>`` unstripped: ' dog ' is not 'dog' and the object
    was dropped, while the check (which stripped it) let the file pass."""
    from kd_transfer.datasets.layout import check_voc_annotation
    xml = tmp_path / 'a.xml'
    obj = ('<object><name>{}</name><difficult>0</difficult><bndbox><xmin>1</xmin><ymin>1</ymin>'
           '<xmax>5</xmax><ymax>5</ymax></bndbox></object>')
    body = '<annotation><size><width>8</width><height>8</height></size>{}</annotation>'
    xml.write_text(body.format(obj.format('dog')))
    assert check_voc_annotation(xml, ('cat', 'dog')) == 1
    xml.write_text(body.format(obj.format('\n   dog  \n')))
    with pytest.raises(ValueError, match=r"a\.xml: object 0 <name> '\\n   dog  \\n' has white "
                                         r"space around 'dog'"):
        check_voc_annotation(xml, ('cat', 'dog'))
