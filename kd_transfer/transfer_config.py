"""Write the transfer configs of any exported student, with no hand-written file.

A transfer config (``configs/transfer/<task>/<kind>_<student>.py``) is a kind file
(``configs/transfer/_base_/kinds/<kind>.py``: an upstream recipe and its dataset), one student
file (``configs/_base_/students/<student>.py``) and the student glue
(:mod:`kd_transfer.transfer_glue`), which reads every number from that student file. So a new
student needs only its student file, and every value of that file can be read from the exported
backbone itself:

* ``backbone`` and ``student_arch``: the backbone config recorded by the exporter
  (``meta.kd_transfer.backbone``), with ``init_cfg`` pointing at the checkpoint;
* ``backbone_channels`` / ``backbone_strides`` / ``seg_backbone_strides``: measured by
  building that backbone and running it once;
* ``student_norm``: the recorded normalisation (``meta.kd_transfer.normalisation``);
* DeepLab settings by family, as mmseg's recipes (docs/transfer.md): ResNets d8 (strides
  (1, 2, 1, 1), dilations (1, 1, 2, 4)); MobileNetV2 d8 (mmseg's mobilenet-v2-d8); every
  other student undilated. Head widths: mmseg's r18-d8 ones (128 / 12 / 64) for BasicBlock
  ResNets and every other small student; the R-50 ones (512 / 48 / 256) for bottleneck
  ResNets and MobileNetV2 (whose mmseg recipe keeps them).

:func:`write_transfer_configs` writes that student file and, per kind, the kind's config
with its ``_base_`` paths made absolute and the student file swapped (the kind file and the
glue are inherited, not copied), so ``mim train`` and ``tools/dist_train.sh`` run them as they
are.
"""
import ast
import os.path as osp
import re
from typing import Any, Dict, List, Optional, Sequence

import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: The student whose configs are the templates (it has one config of every kind; a config's code
#: is its two bases and the glue call, the same for every student).
TEMPLATE_STUDENT = 'resnet18'
#: The kinds, as ``<task>/<file name with {student}>``.
KINDS = (
    'det/faster-rcnn_{student}_fpn_1x_coco.py',
    'det/faster-rcnn_{student}_fpn_voc07.py',
    *(f'seg/{head}_{{student}}_{data}.py' for head in ('deeplabv3plus', 'deeplabv3')
      for data in ('voc07', 'voc12aug', 'coco80', 'coco20voc')),
)

R18_HEADS = dict(channels=128, c1_channels=12, aux_channels=64)
R50_HEADS = dict(channels=512, c1_channels=48, aux_channels=256)
RESNET_D8 = dict(strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4))
MOBILENETV2_D8 = dict(strides=(1, 2, 2, 1, 1, 1, 1), dilations=(1, 1, 1, 2, 2, 4, 4))


def kind_id(kind: str) -> str:
    """``'det/faster-rcnn_{student}_fpn_voc07.py'`` -> ``'faster-rcnn_fpn_voc07'``."""
    return osp.basename(kind).replace('_{student}', '')[:-len('.py')]


class TransferConfigError(ValueError):
    """The checkpoint cannot be turned into transfer configs (no provenance, bad name...)."""


def read_provenance(checkpoint: str) -> Dict[str, Any]:
    """``meta.kd_transfer`` of an exported backbone (loaded with ``weights_only=True``)."""
    from .export import ExportError, load_source
    try:
        ckpt = load_source(checkpoint)
    except ExportError as err:
        raise TransferConfigError(str(err)) from None
    prov = ckpt.get('meta', {}).get('kd_transfer') if isinstance(ckpt, dict) else None
    if not isinstance(prov, dict) or not isinstance(prov.get('backbone'), dict):
        raise TransferConfigError(
            f'{checkpoint!r} has no meta.kd_transfer provenance with a backbone config: '
            'export it first with tools/export_backbone.py')
    if not isinstance(prov.get('normalisation'), dict):
        raise TransferConfigError(
            f'{checkpoint!r}: its provenance records no normalisation (exported before '
            'kd_transfer recorded it); export it again with tools/export_backbone.py')
    return prov


def seg_settings(backbone: dict) -> Dict[str, Any]:
    """DeepLab backbone options and head widths of a backbone config, by family."""
    typ = backbone['type']
    if typ == 'ResNet':
        heads = R18_HEADS if int(backbone.get('depth', 50)) < 50 else R50_HEADS
        return dict(seg_backbone=dict(RESNET_D8), seg_heads=dict(heads))
    if typ == 'TVMobileNetV2':
        return dict(seg_backbone=dict(MOBILENETV2_D8), seg_heads=dict(R50_HEADS))
    return dict(seg_backbone=dict(), seg_heads=dict(R18_HEADS))


def measure(backbone: dict, scope: str, size: int = 64) -> tuple:
    """``(channels, strides)`` of a backbone's outputs on a ``size`` x ``size`` input."""
    from mmengine.registry import MODELS, DefaultScope
    import kd_transfer  # noqa: F401  (registers the architectures)
    if scope == 'mmdet':
        import mmdet.models  # noqa: F401
    else:
        import mmseg.models  # noqa: F401
    cfg = {k: v for k, v in backbone.items() if k not in ('_delete_', 'init_cfg')}
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg)
    model.eval()
    with torch.no_grad():
        outs = model(torch.zeros(1, 3, size, size))
    outs = [outs] if isinstance(outs, torch.Tensor) else list(outs)
    return [int(o.shape[1]) for o in outs], [size // int(o.shape[2]) for o in outs]


def _derived_block() -> str:
    """The derived lines every student file ends with (from the hand-written resnet18 one)."""
    text = open(osp.join(REPO, 'configs', '_base_', 'students', f'{TEMPLATE_STUDENT}.py'),
                encoding='utf-8').read()
    return text[text.index('# ---- derived'):]


def student_file_text(checkpoint: str, prov: Dict[str, Any], name: str) -> str:
    """The text of a student file (configs/_base_/students/ format) for an exported backbone."""
    backbone = {k: v for k, v in prov['backbone'].items() if k != 'init_cfg'}
    det_channels, det_strides = measure(backbone, 'mmdet')
    seg = seg_settings(backbone)
    _, seg_strides = measure(dict(backbone, **seg['seg_backbone']), 'mmseg')
    norm = prov['normalisation']
    delete = '' if backbone['type'] == 'ResNet' else \
        '\n    _delete_=True,  # replace the upstream ResNet config instead of merging into it'
    args = ''.join(f'\n    {k}={v!r},' for k, v in backbone.items())
    return f'''# Student backbone "{name}" for the transfer configs, written by
# tools/make_transfer_config.py from the provenance of
#   {checkpoint}
# (arch {prov.get('arch')}, method {prov.get('method')}, teacher {prov.get('teacher')}).
# Same format as configs/_base_/students/*.py; channels and strides measured on the built
# backbone; DeepLab settings by family as mmseg's recipes (docs/transfer.md).
_base_ = [{osp.join(REPO, 'configs', '_base_', 'guards.py')!r}]  # FiniteLossHook, BackboneRecordHook
student_arch = {prov.get('arch')!r}
backbone = dict({delete}{args}
    init_cfg=dict(type='Pretrained', checkpoint={checkpoint!r}))
backbone_channels = {det_channels!r}
backbone_strides = {det_strides!r}

# Normalisation the student was trained with ({norm.get('from')}).
student_norm = dict(mean={list(norm['mean'])!r}, std={list(norm['std'])!r},
                    channel_order={norm['channel_order']!r})
seg_backbone = {seg['seg_backbone']!r}
seg_backbone_strides = {seg_strides!r}
seg_heads = {seg['seg_heads']!r}

{_derived_block()}'''


def _base_entries(text: str) -> List[str]:
    tree = ast.parse(text)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '_base_'
                                                for t in node.targets):
            value = ast.literal_eval(node.value)
            return [value] if isinstance(value, str) else list(value)
    raise TransferConfigError('template config has no _base_')


def config_text(kind: str, name: str, student_file: str, checkpoint: str,
                out_path: str) -> str:
    """The kind's template config with absolute ``_base_`` paths and ``student_file``."""
    template = osp.join(REPO, 'configs', 'transfer', kind.format(student=TEMPLATE_STUDENT))
    text = open(template, encoding='utf-8').read()
    bases = _base_entries(text)
    new = []
    for entry in bases:
        if '::' in entry:
            new.append(entry)
        elif entry.endswith(f'students/{TEMPLATE_STUDENT}.py'):
            new.append(student_file)
        else:
            new.append(osp.normpath(osp.join(osp.dirname(template), entry)))
    start = text.index('_base_ = [')
    end = text.index(']\n', start) + 2
    header = ''.join(f'# {line}\n' if line else '#\n' for line in (
        f'Transfer config for the student "{name}", written by tools/make_transfer_config.py',
        f'from the provenance of {checkpoint}.',
        f'Recipe: configs/transfer/{kind.format(student=TEMPLATE_STUDENT)} (its header) and the',
        'kind file below; glue: kd_transfer/transfer_glue.py; the student file below holds this',
        'student\'s numbers.',
        '',
    ))
    body_header = text[:start].replace(
        f'configs/transfer/{kind.format(student=TEMPLATE_STUDENT)}', out_path).replace(
        f'configs/_base_/students/{TEMPLATE_STUDENT}.py', student_file).replace(
        TEMPLATE_STUDENT, name)
    bases_text = '_base_ = [\n' + ''.join(f'    {b!r},\n' for b in new) + ']\n'
    return header + body_header + bases_text + text[end:]


def write_transfer_configs(checkpoint: str, out_dir: str, name: Optional[str] = None,
                           kinds: Optional[Sequence[str]] = None, force: bool = False
                           ) -> List[str]:
    """Write ``student_<name>.py`` and one config per kind into ``out_dir``.

    Args:
        checkpoint (str): A backbone written by tools/export_backbone.py.
        out_dir (str): Directory for the files (created).
        name (str, optional): Student name in the file names; default: the checkpoint's
            file name without extension.
        kinds (Sequence[str], optional): Subset of :data:`KINDS` (``'det'`` / ``'seg'``
            select a task); default all.
        force (bool): Overwrite existing files.

    Returns:
        list[str]: The written paths, the student file first.

    Raises:
        TransferConfigError: No provenance, a bad name or kind, or a file exists.
    """
    from .fileio import atomic_write
    out_dir = osp.abspath(osp.expanduser(out_dir))
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise TransferConfigError(f'OUT_DIR {out_dir!r} exists and is not a directory')
    checkpoint = osp.abspath(osp.expanduser(checkpoint))
    prov = read_provenance(checkpoint)
    name = name or osp.splitext(osp.basename(checkpoint))[0]
    if not re.fullmatch(r'[A-Za-z0-9][A-Za-z0-9_.+-]*', name):
        raise TransferConfigError(f'student name {name!r}: use letters, digits, _ . + -')
    chosen = list(KINDS)
    if kinds:
        chosen = [k for k in KINDS if k.split('/')[0] in kinds or kind_id(k) in kinds]
        if not chosen or not set(kinds) <= {'det', 'seg'} | {kind_id(k) for k in KINDS}:
            raise TransferConfigError(f'kinds {list(kinds)}: choose det, seg or some of '
                                      f'{[kind_id(k) for k in KINDS]}')
    student_file = osp.join(out_dir, f'student_{name}.py')
    targets = [student_file] + [osp.join(out_dir, osp.basename(k.format(student=name)))
                                for k in chosen]
    existing = [t for t in targets if osp.exists(t)]
    if existing and not force:
        raise TransferConfigError(f'{existing[0]} exists ({len(existing)} of the files); pass '
                                  '--force to overwrite them')
    atomic_write(student_file, student_file_text(checkpoint, prov, name))
    for kind, target in zip(chosen, targets[1:]):
        atomic_write(target, config_text(kind, name, student_file, checkpoint, target))
    return targets


__all__ = ['KINDS', 'kind_id', 'TransferConfigError', 'read_provenance', 'seg_settings', 'measure',
           'student_file_text', 'config_text', 'write_transfer_configs']
