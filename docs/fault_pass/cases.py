"""Fault pass driver (in-process, to spare the slow imports): issue 13's export / data /
report cases and new ones.  Usage: PYTHONPATH=. python docs/fault_pass/cases.py SCRATCH
(SCRATCH as in listed.sh; N15 runs only when /tmp/fp_tiny is a full-able tmpfs:
`mount -t tmpfs -o size=1m tmpfs /tmp/fp_tiny`).  Prints one block per case: exit / exception and output tail."""
import contextlib, copy, importlib.util, io, json, os, pickle, shutil, sys, traceback
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
S = Path(sys.argv[1]).resolve()
os.chdir(S)


def tool(name):
    spec = importlib.util.spec_from_file_location('fp_' + name, REPO / 'tools' / f'{name}.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


EXPORT, REPORT, SYN = tool('export_backbone'), tool('transfer_report'), tool('make_synthetic_data')


def case(name, fn):
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            rc = fn()
        res = f'returned {rc!r}'
    except SystemExit as e:
        res = f'SystemExit {e.code!r}'
    except Exception as e:  # noqa: BLE001
        tb = traceback.extract_tb(e.__traceback__)[-1]
        res = f'EXC {type(e).__name__}: {str(e)[:400]} [at {Path(tb.filename).name}:{tb.lineno}]'
    text = out.getvalue().strip().splitlines()
    print(f'=== {name}: {res}')
    for line in [l for l in text if 'mmengine - INFO - kd_transfer: upstream' not in l][-4:]:
        print('    ' + line[:300])
    sys.stdout.flush()


def export(*a):
    return EXPORT.main([str(x) for x in a])


def report(*a):
    return REPORT.main([str(x) for x in a])


sd8 = torch.load(S / 'w1/epoch_2.pth', map_location='cpu', weights_only=False)
# ---------------- listed cases
shutil.copy(S / 'w1/epoch_2.pth', S / 'x.pth')
case('2 export X X --force', lambda: export('x.pth', 'x.pth', '--force'))
print('    x.pth still a training checkpoint:',
      'optimizer' in torch.load(S / 'x.pth', weights_only=False))
(S / 'proj').mkdir(exist_ok=True); (S / 'proj/thesis.tex').write_text('x')
case('3 make_synthetic_data proj --force', lambda: SYN.main(['proj', '--force', '--num-train', '2',
     '--num-val', '1', '--image-size', '32', '--cifar-train', '4', '--cifar-test', '2']))
print('    thesis.tex kept:', (S / 'proj/thesis.tex').exists())
nan = copy.deepcopy(sd8); k = next(k for k in nan['state_dict'] if k.startswith('student.backbone') and 'conv' in k)
nan['state_dict'][k][0] = float('nan'); torch.save(nan, S / 'nan.pth')
case('5a export NaN weights', lambda: export('nan.pth', 'nan_out.pth'))
case('8 export after resume: provenance', lambda: export('w1a/epoch_3.pth', 'exp_w1a.pth', '--force'))
from torchvision.models import resnet18
tv = resnet18().state_dict(); torch.save(tv, S / 'tv.pth')
case('12a export torchvision without --method', lambda: export('tv.pth', 'tv_out.pth', '--force'))
tvo = {k: v for k, v in tv.items() if 'num_batches_tracked' not in k}; torch.save(tvo, S / 'tv_old.pth')
case('13 torchvision without num_batches_tracked', lambda: export('tv_old.pth', 'tv_old_out.pth', '--force'))
(S / 'with space').mkdir(exist_ok=True)
case('15d printed command with a space', lambda: export('w1/epoch_2.pth', 'with space/b.pth', '--force'))
# report over a dir holding the runs (12b: unidentified export listed; 14b/c bad scalars)
rep = S / 'rep'; shutil.rmtree(rep, ignore_errors=True); rep.mkdir()
shutil.copytree(S / 'w1', rep / 'w1'); shutil.copytree(S / 'w1', rep / 'w1bad')
sc = next((rep / 'w1bad').glob('*/vis_data/scalars.json'))
sc.write_bytes(sc.read_bytes() + b'\xff\xfe{"garb\n' + b'{"step": 9}\n')
case('14bc report: non-UTF-8 + truncated scalars line', lambda: report(rep, '--out', S / 'rep_out'))
print('    outputs:', sorted(p.name for p in (S / 'rep_out').glob('*')) if (S / 'rep_out').exists() else None)

# ---------------- new cases
N = {}
case('N1 report over an empty directory', lambda: (S / 'empty').mkdir(exist_ok=True) or report(S / 'empty', '--out', S / 'empty_out'))
case('N2 report over a missing directory', lambda: report(S / 'nope', '--out', S / 'nope_out'))
case('N3 export: source is a directory', lambda: export('w1', 'd_out.pth'))
(S / 'empty.pth').write_bytes(b'')
case('N4 export: empty (0 byte) checkpoint', lambda: export('empty.pth', 'e_out.pth'))
dp = {'module.' + k: v for k, v in tv.items()}; torch.save(dp, S / 'dp.pth')
case("N5 export: DataParallel 'module.' torchvision state dict", lambda: export('dp.pth', 'dp_out.pth', '--method', 'baseline', '--force'))
torch.save({'model': tv}, S / 'mdis.pth')
case("N6 export: checkpoint with a 'model' key (mdistiller-like) of a torchvision resnet18", lambda: export('mdis.pth', 'md_out.pth', '--method', 'kd', '--force'))
torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(64, 3, 7, 7), 'rpn_head.rpn_conv.weight': torch.zeros(256, 256, 3, 3)}}, S / 'det.pth')
case('N7 export: detector checkpoint', lambda: export('det.pth', 'det_out.pth', '--force'))
case('N8 export: --arch that does not exist', lambda: export('tv.pth', 'a_out.pth', '--arch', 'resnet19', '--force'))
case('N9 export: --mean with 2 values', lambda: export('w1/epoch_2.pth', 'm_out.pth', '--mean', '1', '2', '--force'))
case('N10 export: --std 0', lambda: export('w1/epoch_2.pth', 's_out.pth', '--std', '0', '1', '1', '--force'))
case('N11 export: OUT in a missing directory', lambda: export('w1/epoch_2.pth', 'no/such/dir/o.pth'))
case('N12 export: unicode path', lambda: export('w1/epoch_2.pth', 'ünïcødé 目录.pth', '--force'))
torch.save([1, 2, 3], S / 'list.pth')
case('N13 export: pickle of a list', lambda: export('list.pth', 'l_out.pth'))
half = {k: (v.half() if v.is_floating_point() else v) for k, v in tv.items()}; torch.save(half, S / 'half.pth')
case('N14 export: fp16 torchvision weights', lambda: export('half.pth', 'half_out.pth', '--method', 'baseline', '--force'))
if Path('/tmp/fp_tiny').is_dir():
    case('N15 export to a full 1 MB tmpfs', lambda: export('tv.pth', '/tmp/fp_tiny/o.pth', '--method', 'baseline', '--force'))
    print('    left in tmpfs:', os.listdir('/tmp/fp_tiny'))
case('N16 make_synthetic_data --image-size 7', lambda: SYN.main(['syn7', '--image-size', '7', '--num-train', '1', '--num-val', '1', '--cifar-train', '1', '--cifar-test', '1']))
case('N17 make_synthetic_data --num-train 0', lambda: SYN.main(['syn0', '--num-train', '0', '--num-val', '1', '--cifar-train', '1', '--cifar-test', '1']))
case('N18 make_synthetic_data --num-val -1', lambda: SYN.main(['synm', '--num-val', '-1']))

# data checks through the same function tools/train.py runs first (check_datasets)
from mmengine.config import Config
from kd_transfer.tiny import tiny_overrides
from kd_transfer.datasets.config_checks import check_datasets


def data_copy(name):
    d = S / 'data_' + name if False else S / f'data_{name}'
    shutil.rmtree(d, ignore_errors=True); shutil.copytree(S / 'syn', d, symlinks=True)
    return d


def check(cfgname, root, mode='fail'):
    cfg = tiny_overrides(Config.fromfile(str(REPO / 'configs/transfer' / cfgname)), data_root=str(root), work_dir=str(S / 'wd'))
    return check_datasets(cfg, ('train_dataloader', 'val_dataloader'), mode)


DET, SEG = 'det/faster-rcnn_resnet18_fpn_voc07.py', 'seg/deeplabv3plus_resnet18_voc07.py'
COCO = 'det/faster-rcnn_resnet18_fpn_1x_coco.py'
voc = lambda d: d / 'VOCdevkit/VOC2007'
first = lambda d, sub='Main/trainval.txt': (voc(d) / 'ImageSets' / sub).read_text().split()[0]

d = data_copy('gray'); i = first(d); Image.open(voc(d) / f'JPEGImages/{i}.jpg').convert('L').save(voc(d) / f'JPEGImages/{i}.jpg')
case('N19 grayscale JPEG in VOC', lambda: check(DET, d))
d = data_copy('cmyk'); i = first(d); Image.open(voc(d) / f'JPEGImages/{i}.jpg').convert('CMYK').save(voc(d) / f'JPEGImages/{i}.jpg')
case('N20 CMYK JPEG in VOC', lambda: check(DET, d))
d = data_copy('png'); i = first(d); Image.open(voc(d) / f'JPEGImages/{i}.jpg').save(voc(d) / f'JPEGImages/{i}.jpg', format='PNG')
case('N21 PNG bytes under a .jpg name', lambda: check(DET, d))
d = data_copy('ws'); i = first(d); x = voc(d) / f'Annotations/{i}.xml'
x.write_text(x.read_text().replace('<name>', '<name>\n   ').replace('</name>', '  \n</name>'))
case('N22 VOC XML with whitespace around <name>', lambda: check(DET, d))
d = data_copy('nosize'); i = first(d); x = voc(d) / f'Annotations/{i}.xml'
import re; x.write_text(re.sub(r'<size>.*?</size>', '', x.read_text(), flags=re.S))
case('N23 VOC XML without <size>', lambda: check(DET, d))
d = data_copy('crlf'); p = voc(d) / 'ImageSets/Main/trainval.txt'; p.write_bytes(p.read_bytes().replace(b'\n', b'\r\n'))
case('N24 trainval.txt with CRLF line ends', lambda: check(DET, d))
d = data_copy('dupid'); p = voc(d) / 'ImageSets/Main/trainval.txt'; p.write_text(p.read_text() + p.read_text().split()[0] + '\n')
case('N25 VOC id listed twice', lambda: check(DET, d))
d = data_copy('rle'); a = d / 'coco/annotations/instances_train2017.json'; j = json.loads(a.read_text())
j['annotations'][0]['iscrowd'] = 1; j['annotations'][0]['segmentation'] = {'counts': [0, 10], 'size': [64, 64]}
j['annotations'][1]['segmentation'] = [[1, 1, 5, 5, 1, 5]]; j['annotations'][2]['segmentation'] = []
a.write_text(json.dumps(j))
case('N26 COCO iscrowd RLE / 3-point polygon / empty segmentation (det)', lambda: check(COCO, d))
d = data_copy('noann'); a = d / 'coco/annotations/instances_train2017.json'; j = json.loads(a.read_text()); j['annotations'] = []; a.write_text(json.dumps(j))
case('N27 COCO train split with no annotations at all', lambda: check(COCO, d))
d = data_copy('bbox_str'); a = d / 'coco/annotations/instances_train2017.json'; j = json.loads(a.read_text()); j['annotations'][0]['bbox'] = ['1', '2', '3', '4']; a.write_text(json.dumps(j))
case('N28 COCO bbox given as strings', lambda: check(COCO, d))
d = data_copy('mask16'); i = first(d, 'Segmentation/trainval.txt'); m = voc(d) / f'SegmentationClass/{i}.png'
Image.fromarray(np.asarray(Image.open(m)).astype(np.uint16)).save(m)
case('N29 16-bit VOC mask (same labels)', lambda: check(SEG, d))
d = data_copy('maskrot'); i = first(d, 'Segmentation/trainval.txt'); m = voc(d) / f'SegmentationClass/{i}.png'
Image.open(m).transpose(Image.Transpose.ROTATE_90).resize((64, 32)).save(m)
case('N30 VOC mask of another size (64x32)', lambda: check(SEG, d))
# CIFAR pickles
from kd_transfer.datasets.cifar100 import CIFAR100Pickle
cif = S / 'syn/cifar100'
def cifar(root, **kw):
    ds = CIFAR100Pickle(data_root=str(root), test_mode=False, **kw); return f'{len(ds)} images'
d = S / 'cif_str'; shutil.rmtree(d, ignore_errors=True); shutil.copytree(cif, d)
t = d / 'cifar-100-python/train'; o = pickle.load(open(t, 'rb'), encoding='bytes')
o = {k.decode() if isinstance(k, bytes) else k: v for k, v in o.items()}; pickle.dump(o, open(t, 'wb'))
case('N31 CIFAR pickle with str keys (python3 pickle)', lambda: cifar(d))
d2 = S / 'cif_nofine'; shutil.rmtree(d2, ignore_errors=True); shutil.copytree(d, d2)
t = d2 / 'cifar-100-python/train'; o = pickle.load(open(t, 'rb')); o.pop('fine_labels'); pickle.dump(o, open(t, 'wb'))
case('N32 CIFAR pickle with coarse labels only', lambda: cifar(d2))
d3 = S / 'cif_short'; shutil.rmtree(d3, ignore_errors=True); shutil.copytree(d, d3)
t = d3 / 'cifar-100-python/train'; o = pickle.load(open(t, 'rb')); o['data'] = o['data'][:, :3000]; pickle.dump(o, open(t, 'wb'))
case('N33 CIFAR rows of 3000 bytes (not 3072)', lambda: cifar(d3))
d4 = S / 'cif_lab'; shutil.rmtree(d4, ignore_errors=True); shutil.copytree(d, d4)
t = d4 / 'cifar-100-python/train'; o = pickle.load(open(t, 'rb')); o['fine_labels'] = o['fine_labels'][:-1]; pickle.dump(o, open(t, 'wb'))
case('N34 CIFAR: one label fewer than images', lambda: cifar(d4))
# grid spec typos
GRID = tool('grid')
(S / 'gspec.py').write_text("grid = dict(methodz=['kd'])\n")
case('N35 grid spec with a misspelt key', lambda: GRID.main([str(S / 'gspec.py'), '--dry-run']))
case('N36 grid spec that does not exist', lambda: GRID.main([str(S / 'nosuch.py'), '--dry-run']))
(S / 'nobase.py').write_text("_base_ = './does_not_exist.py'\n")
TRAIN = tool('train')
case('N37 config with a missing _base_', lambda: TRAIN.main([str(S / 'nobase.py'), '--work-dir', str(S / 'wnb')]))
case('N38 teacher checkpoint of the wrong arch (resnet8 for resnet14)', lambda: TRAIN.main(['cfg.py', '--work-dir', str(S / 'wta'), '--cfg-options', "model.teacher_checkpoint=/tmp/fp/resnet8.pth"]))
