"""mmengine's ``Pretrained`` initialiser replaced by a strict one (implementation:
:class:`kd_transfer.pretrained_init.StrictPretrainedInit`).

mmengine 0.10.x loads ``init_cfg=dict(type='Pretrained', ...)`` with ``strict=False`` and only
warns about keys that do not fit; the replacement refuses mismatching kd_transfer backbones,
checkpoints none of whose keys fit, NaN weights and a normalisation that differs from the
model's data preprocessor. It is registered under the same name, ``force=True``.
"""
from .base import Patch


def _apply() -> None:
    from mmengine.registry import WEIGHT_INITIALIZERS

    from ..pretrained_init import StrictPretrainedInit
    WEIGHT_INITIALIZERS.register_module(name='Pretrained', module=StrictPretrainedInit,
                                        force=True)


PATCH = Patch(
    name='strict_pretrained', env='KD_PATCH_STRICT_PRETRAINED',
    what="mmengine WEIGHT_INITIALIZERS 'Pretrained' -> StrictPretrainedInit (force=True)",
    requires={'mmengine': ('0.10.0', '0.11')}, apply_fn=_apply)
