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


# ------------------------------------------------------------------ N10b: copied work dir
def _work_dir(path, names, last):
    path.mkdir()
    for name in names:
        (path / name).write_bytes(b'x')
    (path / 'last_checkpoint').write_text(str(last))
    return path


def test_copied_work_dir_resumes_from_its_own_file(tmp_path):
    """N10b: ``last_checkpoint`` of a ``cp -r`` copy names the original's file, and the copy
    resumed from (and depended on) the other directory."""
    import shutil

    from kd_transfer.resume import ResumeError, find_resume_checkpoint
    orig = _work_dir(tmp_path / 'orig', ['epoch_1.pth', 'epoch_2.pth'],
                     tmp_path / 'orig' / 'epoch_2.pth')
    copy = tmp_path / 'copy'
    shutil.copytree(orig, copy)
    path, note = find_resume_checkpoint(str(copy))
    assert path == str(copy / 'epoch_2.pth')
    assert 'outside the work dir' in note
    (copy / 'epoch_2.pth').unlink()
    with pytest.raises(ResumeError, match=r"names '.*orig/epoch_2\.pth', a file outside the "
                                          r"work dir .*has no epoch_2\.pth of its own"):
        find_resume_checkpoint(str(copy))
    assert find_resume_checkpoint(str(orig)) == (str(orig / 'epoch_2.pth'), None)  # control


def test_checkpoint_hook_out_dir_is_not_outside(tmp_path):
    from kd_transfer.resume import resolve_resume
    out = tmp_path / 'store' / 'w'
    out.mkdir(parents=True)
    (out / 'epoch_3.pth').write_bytes(b'x')
    work = _work_dir(tmp_path / 'w', [], out / 'epoch_3.pth')
    cfg = Config(dict(work_dir=str(work),
                      default_hooks=dict(checkpoint=dict(out_dir=str(tmp_path / 'store')))))
    resolve_resume(cfg, 'auto', log=print)
    assert cfg.load_from == str(out / 'epoch_3.pth')


# ------------------------------------------------------------------ N9b: resume, new config
def test_resume_with_a_changed_config_warns_and_a_changed_model_is_refused(
        train_tool, cls_config, tmp_path):
    """N9b: a changed lr or model was resumed without a word. One 1-iteration run, then three
    resumes that stop before training (checked before the runner is built)."""
    from kd_transfer.resume_config import ResumeConfigError
    cfg, work = cls_config(iters=1), tmp_path / 'work'
    train_tool.main([str(cfg), '--work-dir', str(work)])
    logged = []
    from kd_transfer import resume_config

    def resume(*options):
        logged.clear()
        from kd_transfer.launch import load_config
        args = train_tool.parse_args([str(cfg), '--work-dir', str(work), '--resume',
                                      *(['--cfg-options', *options] if options else [])])
        config = load_config(args)
        from kd_transfer.batch_lr import apply_lr_policy
        from kd_transfer.resume import resolve_resume
        from kd_transfer.strict_load import add_strict_load_hook
        apply_lr_policy(config, args.auto_scale_lr)
        resolve_resume(config, args.resume)
        add_strict_load_hook(config)
        return resume_config.check_resume_config(config, log=logged.append)

    assert resume() == []  # the same config: nothing to say
    assert sorted(resume('optim_wrapper.optimizer.lr=0.5', 'train_cfg.max_iters=2')) == \
        ['optim_wrapper', 'train_cfg']
    assert 'differs from the one this run was trained with' in logged[0]
    with pytest.raises(ResumeConfigError, match=r'in: model.*--allow-model-change'):
        resume('model.student.backbone.depth=14')


# ------------------------------------------------------------------ N11, N12a-c, N33, N52
VOC_XML = """<annotation>
	<folder>VOC2007</folder>
	<filename>{image_id}.jpg</filename>
	<source><database>The VOC2007 Database</database><annotation>PASCAL VOC2007</annotation></source>
	<size><width>500</width><height>375</height><depth>3</depth></size>
	<segmented>0</segmented>
	<object>
		<name>chair</name><pose>Rear</pose><truncated>0</truncated><difficult>0</difficult>
		<bndbox><xmin>{box[0]}</xmin><ymin>{box[1]}</ymin><xmax>{box[2]}</xmax><ymax>{box[3]}</ymax></bndbox>
	</object>
</annotation>
"""


def _jpeg(path):
    import numpy as np
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path, 'JPEG')


def voc_tree(root, boxes, listed=None):
    """A VOC2007 tree in the official layout: one image (500 x 375) per box."""
    voc = root / 'VOCdevkit' / 'VOC2007'
    (voc / 'Annotations').mkdir(parents=True)
    (voc / 'ImageSets' / 'Main').mkdir(parents=True)
    ids = [f'{i:06d}' for i in range(1, len(boxes) + 1)]
    for image_id, box in zip(ids, boxes):
        (voc / 'Annotations' / f'{image_id}.xml').write_text(
            VOC_XML.format(image_id=image_id, box=box))
        _jpeg(voc / 'JPEGImages' / f'{image_id}.jpg')
    (voc / 'ImageSets' / 'Main' / 'trainval.txt').write_text(
        '\n'.join(listed if listed is not None else ids) + '\n')
    return Config(dict(work_dir=str(root / 'work'), train_dataloader=dict(dataset=dict(
        type='VOCDataset', data_root=str(root / 'VOCdevkit'),
        ann_file='VOC2007/ImageSets/Main/trainval.txt',
        data_prefix=dict(sub_data_root='VOC2007/')))))


@pytest.mark.parametrize('box,message', [
    ((-5, 211, 324, 339), r'\(-5, 211, 324, 339\) has a negative coordinate'),  # N12a
    ((324, 211, 263, 339), r'\(324, 211, 263, 339\) is inverted \(xmax < xmin'),  # N12b
    ((263, 339, 324, 211), r'\(263, 339, 324, 211\) is inverted'),
    ((510, 20, 600, 80), r'\(510, 20, 600, 80\) lies entirely outside the 500 x 375 image'),
])
def test_broken_voc_boxes_are_named(tmp_path, box, message):
    """N12a-c: mmdet's XMLDataset keeps such boxes as they are (no check, no clip)."""
    from kd_transfer.datasets.config_checks import check_datasets
    cfg = voc_tree(tmp_path, [(263, 211, 324, 339), box])
    with pytest.raises(ValueError, match=r'000002\.xml: object 0 \(chair\) <bndbox> ' + message):
        check_datasets(cfg)
    skipped = check_datasets(cfg, on_bad_annotation='skip', log=lambda *a, **k: None)
    assert list(skipped.values()) == [1]
    assert open(cfg.train_dataloader.dataset.ann_file).read().split() == ['000001']


def test_legal_voc_boxes_pass(tmp_path):
    """1-based coordinates equal to the size, a one-pixel box, a box crossing the border
    (mmdet's Resize clips it) and a 0 coordinate are legal."""
    from kd_transfer.datasets.config_checks import check_datasets
    cfg = voc_tree(tmp_path, [(1, 1, 500, 375), (7, 7, 7, 7), (400, 300, 520, 390),
                              (0, 0, 10, 10)])
    assert check_datasets(cfg) == {}


def test_duplicate_voc_image_ids_are_named(tmp_path):
    """N52: an id listed twice in ImageSets/Main/*.txt was trained on twice."""
    from kd_transfer.datasets.config_checks import check_datasets
    cfg = voc_tree(tmp_path, [(263, 211, 324, 339)] * 2,
                   listed=['000001', '000002', '000001', '000001'])
    with pytest.raises(ValueError, match=r"trainval\.txt: image id '000001' is listed 3 times"):
        check_datasets(cfg)
    assert list(check_datasets(cfg, on_bad_annotation='skip',
                               log=lambda *a, **k: None).values()) == [1]
    assert open(cfg.train_dataloader.dataset.ann_file).read().split() == ['000001', '000002']


def coco_json(root, bboxes, crowd=()):
    """A COCO instances file (official structure) with one 640 x 480 image per box."""
    import json
    from kd_transfer.datasets.class_names import COCO_CATEGORIES
    images, anns = [], []
    for i, bbox in enumerate(bboxes, start=1):
        name = f'{i:012d}.jpg'
        _jpeg(root / 'val2017' / name)
        images.append(dict(license=1, file_name=name, coco_url='', height=480, width=640,
                           date_captured='2013-11-14 17:02:52', flickr_url='', id=i))
        anns.append(dict(segmentation=[[0, 0, 1, 0, 1, 1]], area=float(bbox[2] * bbox[3]),
                         iscrowd=int(i in crowd), image_id=i, bbox=list(bbox), category_id=1,
                         id=100 + i))
    cats = [dict(supercategory=sup, id=cid, name=name) for cid, name, sup in COCO_CATEGORIES]
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    path = root / 'annotations' / 'instances_val2017.json'
    path.write_text(json.dumps(dict(info={}, licenses=[], images=images, annotations=anns,
                                    categories=cats)))
    return Config(dict(work_dir=str(root / 'work'), train_dataloader=dict(dataset=dict(
        type='CocoDataset', data_root=str(root), ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/')))))


@pytest.mark.parametrize('bbox,message', [
    ((10, 10, -4, 20), r'has a negative width or height'),  # N11
    ((10, 10, 20, -0.5), r'has a negative width or height'),  # N33
    ((700, 10, 20, 20), r'lies entirely outside its 640 x 480 image'),
    ((-30, 10, 20, 20), r'lies entirely outside'),
])
def test_broken_coco_boxes_are_named(tmp_path, bbox, message):
    """N11 / N33: mmdet's CocoDataset dropped these boxes without a word."""
    from kd_transfer.datasets.config_checks import check_datasets
    cfg = coco_json(tmp_path, [(10, 10, 50, 40), bbox])
    with pytest.raises(ValueError, match=r'annotations\[1\] "bbox" .*' + message):
        check_datasets(cfg)


def test_legal_coco_boxes_pass(tmp_path):
    """Zero-height (as in real COCO train2017, ids 918 and 2206849, which mmdet drops), tiny,
    crowd and border-crossing boxes are accepted."""
    from kd_transfer.datasets.config_checks import check_datasets
    cfg = coco_json(tmp_path, [(296.65, 388.33, 1.03, 0.0), (5, 5, 0.5, 0.5),
                               (0, 0, 640, 480), (600, 400, 100, 100)], crowd=(3, ))
    assert check_datasets(cfg) == {}


# ------------------------------------------------------------------ N3: detector's channel order
DET_CKPT_CFG = ("default_scope = 'mmdet'\n"
                "model = dict(type='FasterRCNN', data_preprocessor=dict(type='DetDataPreprocessor',"
                " mean={mean}, std={std}, bgr_to_rgb={swap}, pad_size_divisor=32),"
                " backbone=dict(type='CifarResNet', depth=20, out_indices=(0, 1, 2)),"
                " neck=dict(type='FPN', in_channels=[16, 32, 64], out_channels=8, num_outs=5))\n")


@pytest.mark.parametrize('mean,std,swap,order', [
    ([123.675, 116.28, 103.53], [58.395, 57.12, 57.375], True, 'RGB'),  # mmdet's pytorch style
    ([103.53, 116.28, 123.675], [1.0, 1.0, 1.0], False, 'BGR'),  # mmdet's caffe style
])
def test_detector_export_records_the_channel_order_the_network_sees(tmp_path, mean, std, swap,
                                                                    order):
    """N3: mmdet loads BGR images, so bgr_to_rgb=True means the network sees RGB; the exporter
    read it as a classifier's (RGB images) and recorded BGR."""
    import torch

    from kd_transfer.export import export_backbone
    from kd_transfer.models import build_arch
    state = {f'backbone.{k}': v for k, v in build_arch('resnet20').state_dict().items()}
    state['neck.lateral_convs.0.conv.weight'] = torch.zeros(8, 16, 1, 1)
    torch.save({'state_dict': state, 'meta': {'cfg': DET_CKPT_CFG.format(
        mean=mean, std=std, swap=swap)}}, tmp_path / 'det.pth')
    norm = export_backbone(str(tmp_path / 'det.pth'), str(tmp_path / 'out.pth'),
                           method='kd')['provenance']['normalisation']
    assert (norm['mean'], norm['std'], norm['channel_order']) == (mean, std, order)
    from kd_transfer.normalisation import of_preprocessor_cfg  # a classifier's is unchanged
    assert of_preprocessor_cfg(dict(type='ImgDataPreprocessor', mean=mean, std=std,
                                    bgr_to_rgb=True), 'x')['channel_order'] == 'BGR'


# ------------------------------------------------------------------ N57: re-export
def test_reexport_keeps_the_provenance(tmp_path):
    """N57: an exported backbone given to the exporter again was taken for a RepDistiller state
    dict: method / teacher / seed lost, RepDistiller's CIFAR statistics recorded."""
    import torch

    from kd_transfer.export import export_backbone
    from kd_transfer.models import build_arch
    state = {f'backbone.{k}': v for k, v in build_arch('resnet20').state_dict().items()}
    cfg = ("model = dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=20), "
           "data_preprocessor=dict(type='ImgDataPreprocessor', mean=[1.0, 2.0, 3.0], "
           "std=[4.0, 5.0, 6.0]))\n")
    torch.save({'state_dict': state, 'meta': {'cfg': cfg, 'seed': 3}}, tmp_path / 'a.pth')
    export_backbone(str(tmp_path / 'a.pth'), str(tmp_path / 'b.pth'), method='kd',
                    teacher='resnet56')
    prov = export_backbone(str(tmp_path / 'b.pth'), str(tmp_path / 'c.pth'))['provenance']
    assert (prov['arch'], prov['method'], prov['teacher'], prov['seed']) == \
        ('resnet20', 'kd', 'resnet56', 3)
    norm = prov['normalisation']
    assert (norm['mean'], norm['std'], norm['channel_order']) == ([1, 2, 3], [4, 5, 6], 'RGB')
    assert prov['source'] == str(tmp_path / 'a.pth')  # the training checkpoint, still
    assert prov['reexported_from'] == str(tmp_path / 'b.pth')
    saved = torch.load(tmp_path / 'c.pth', weights_only=True)['meta']['kd_transfer']
    assert saved['method'] == 'kd' and saved['seed'] == 3
    # explicit flags still win
    prov = export_backbone(str(tmp_path / 'b.pth'), str(tmp_path / 'd.pth'), method='dkd',
                           mean=[9, 9, 9], std=[2, 2, 2])['provenance']
    assert prov['method'] == 'dkd' and prov['normalisation']['mean'] == [9, 9, 9]


# ------------------------------------------------------------------ N64, N50: dataset sizes
def test_indices_larger_than_the_dataset_is_refused(tmp_path, cls_config, train_tool):
    """N64: mmengine takes data_list[:indices], so indices=100000 silently used every image."""
    cfg = cls_config(epochs=1, num_images=100000)
    with pytest.raises(ValueError, match=r'train_dataloader: indices=100000 asks for the first '
                                         r'100000 samples, but the dataset has only \d+ '
                                         r"\(type='CIFAR100Pickle'"):
        train_tool.main([str(cfg), '--work-dir', str(tmp_path / 'w')])


def test_empty_test_set_is_named(tmp_path, cls_config, synthetic_data):
    """N50: tools/test.py on a test set without images ended in a ZeroDivisionError."""
    from kd_transfer.testing.helpers import load_tool
    cfg = cls_config(extra='test_dataloader.update(dataset=dict(data_root='
                     f'{str(synthetic_data / "cifar100")!r}, indices=0))\n')
    ckpt = tmp_path / 'any.pth'
    ckpt.write_bytes(b'never read: the check comes first')
    with pytest.raises(ValueError, match=r"test_dataloader: the dataset is empty "
                                         r"\(type='CIFAR100Pickle', data_root='.*cifar100'"):
        load_tool('test').main([str(cfg), str(ckpt), '--work-dir', str(tmp_path / 'w')])


# ------------------------------------------------------------------ N39: busy port
#: torch 2.x's message for a busy rendezvous port (observed from init_process_group).
EADDRINUSE = ('The server socket has failed to listen on any local network address. port: '
              '{port}, useIpv6: false, code: -98, name: EADDRINUSE, message: address already '
              'in use')


def test_busy_port_is_named_with_the_variable_to_set():
    """N39: torchrun / init_process_group ended in an EADDRINUSE traceback without a hint.
    The scripts check the port first (bash tools/dist_train.sh: nothing started); a
    hand-started --launcher pytorch / slurm run gets the hint added to the upstream error
    (torch retries a busy port for ~40 s, so that path is checked on its message)."""
    import os
    import socket
    import subprocess
    import sys

    from kd_transfer.ports import port_hint, port_problem
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert 'set PORT=<free port>' in port_problem(port)
        env = dict(os.environ, PORT=str(port), KD_DEVICE='cpu', PYTHON=sys.executable)
        run = subprocess.run(['bash', os.path.join(repo, 'tools', 'dist_train.sh'),
                              os.path.join(repo, DET_CFG), '2'], env=env, capture_output=True,
                             text=True, timeout=120)
        assert run.returncode == 2
        assert f'port {port} is in use' in run.stderr and 'nothing was started' in run.stderr
        assert 'Traceback' not in run.stderr
    assert port_problem(port) is None  # released
    hint = port_hint(RuntimeError(EADDRINUSE.format(port=port)), port)
    assert f'rendezvous port {port} is in use' in hint and 'MASTER_PORT' in hint
    assert port_hint(RuntimeError('connection refused'), port) is None
