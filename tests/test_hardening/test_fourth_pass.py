"""Cases of the fourth hardening pass (issue 13): nested --cfg-options typos, resume from a
copied work dir or with a changed config, box geometry, duplicate / out-of-range dataset
entries, export provenance of detectors and re-exports, busy distributed ports."""
import pytest
from mmengine.config import Config

from kd_transfer.cfg_options import UnknownCfgOptionError, check_cfg_options

DET_CFG = 'configs/transfer/det/faster-rcnn_resnet20_fpn_voc07.py'


# ------------------------------------------------------------------ N4: nested --cfg-options
@pytest.fixture(scope='module')
def det_cfg():
    import kd_transfer  # noqa: F401  (registers the student types)
    return Config.fromfile(DET_CFG)


@pytest.mark.parametrize('key,message', [
    ('model.backbon.depth', r"'backbon' is not a key of 'model'; did you mean 'backbone'\?"),
    ('optim_wrapper.optimizer.lrr', r"'lrr' is not a key of 'optim_wrapper.optimizer'; did you "
                                    r"mean 'lr'\?"),
    ('train_dataloader.datset.x', r"'datset' is not a key of 'train_dataloader'; did you mean "
                                  r"'dataset'\?"),
    ('custom_hooks.foo', r"'custom_hooks' is a list of \d+: index it with a number"),
    ('custom_hooks.9.x', r"'custom_hooks' is a list of \d+: index 9 is out of range"),
    ('model.backbone.depth.x', r"'model.backbone.depth' is int 20, which has no entry 'x'"),
])
def test_nested_cfg_option_typo_is_refused(det_cfg, key, message):
    """N4a-d: mmengine adds the misspelt branch; the run crashed late with a TypeError."""
    with pytest.raises(UnknownCfgOptionError, match=message):
        check_cfg_options(det_cfg, {key: 1}, DET_CFG)


def test_nested_cfg_options_upstream_accepts_still_pass(det_cfg):
    check_cfg_options(det_cfg, {
        'model.backbone.init_cfg.checkpoint': 'x.pth', 'model.backbone.norm_eval': False,
        'model.backbone.init_cfg.allow_norm_mismatch': True, 'custom_hooks.0.priority': 1,
        'train_dataloader.dataset.data_root': 'd', 'default_hooks.checkpoint.max_keep_ckpts': 2,
        'optim_wrapper.optimizer.lr': 0.1, 'randomness.seed': 1,
        'model.roi_head.bbox_head.new_dict_arg.x': 1})  # a new dict under a type= dict
