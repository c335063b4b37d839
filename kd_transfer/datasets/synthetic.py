"""A deterministic synthetic "shapes" world written in the real dataset formats.

``make_synthetic_data(out_dir)`` writes three datasets that the real readers load unchanged:

* ``VOCdevkit/VOC2007``: JPEG images, VOC XML annotations, ``ImageSets/Main`` and
  ``ImageSets/Segmentation`` lists and palette PNG ``SegmentationClass`` masks with 255 on
  object borders (mmdet ``VOCDataset``, mmseg ``PascalVOCDataset``).
* ``coco``: ``annotations/instances_{train,val}2017.json`` with polygon segmentations and the
  real 80 category ids, images in ``train2017`` / ``val2017`` (pycocotools, mmdet ``CocoDataset``).
* ``cifar100/cifar-100-python/{train,test,meta}``: pickles laid out like the real ones,
  written with Python-2 string opcodes as the originals, so they load with
  ``encoding='bytes'`` (bytes keys) and with ``encoding='latin1'`` (str keys, torchvision).

One world, two views. The CIFAR images show one object of five shapes in one of two tones
(warm / cool) on textured noise; its ten classes, one per (shape, tone) pair, use ten of the
100 fine classes (see :data:`CIFAR_CLASSES`; the other 90 labels never occur), so a classifier
must see the shape and the tone. The detection / segmentation scenes draw the same five shapes
as five of the VOC classes (see :data:`DRAWN_CLASSES`), painted in the same two tones chosen at
random, on the same textured noise, at the scale of the CIFAR objects once a CIFAR student's
transfer config has shrunk the scene (``input_downscale``): the class of a scene object is its
shape alone, the thing a classifier pretrained on the CIFAR view has learnt to see (what makes
pretraining measurably worth something in ``make demo``'s positive control). Objects never
overlap and never touch the image border, so boxes, polygons and masks agree exactly.

Everything is a function of the seed: image ``i`` of a split depends only on
``(seed, split, i)``, and two runs with the same arguments produce identical bytes (with the
same Pillow build: JPEG / PNG encoders of other versions may write other bytes for the same
pixels).
"""
import io
import json
import os
import pickle
import struct
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image

from .atomic import atomic_output_dir, check_output_dir
from .class_names import (CIFAR100_COARSE, CIFAR100_FINE, CIFAR100_FINE_TO_COARSE,
                          COCO_CATEGORIES, VOC_CLASSES, voc_palette)
from .shapes import (paint, polygon_to_coco, rasterize_polygon, shape_polygon,
                     textured_background, to_uint8)

_WARM, _COOL = (235, 120, 30), (30, 160, 225)
#: The two tones of every object, in both views of the world.
TONES: Tuple[Tuple[int, int, int], ...] = (_WARM, _COOL)
#: (shape, VOC class, COCO category name) of the objects of the VOC / COCO scenes.
DRAWN_CLASSES: Tuple[Tuple[str, str, str], ...] = (
    ('ellipse', 'person', 'person'),
    ('rectangle', 'car', 'car'),
    ('triangle', 'bird', 'bird'),
    ('cross', 'aeroplane', 'airplane'),
    ('star', 'dog', 'dog'),
)
#: (shape, RGB colour, CIFAR-100 fine class) of the ten classes of the CIFAR world.
CIFAR_CLASSES: Tuple[Tuple[str, Tuple[int, int, int], str], ...] = (
    ('ellipse', _WARM, 'orange'), ('ellipse', _COOL, 'plate'),
    ('rectangle', _WARM, 'wardrobe'), ('rectangle', _COOL, 'television'),
    ('triangle', _WARM, 'mountain'), ('triangle', _COOL, 'sea'),
    ('cross', _WARM, 'tractor'), ('cross', _COOL, 'rocket'),
    ('star', _WARM, 'sunflower'), ('star', _COOL, 'spider'),
)
#: Object radius in a scene, as a fraction of the image side: a quarter-size scene
#: (``input_downscale`` 4) of 160 pixels shows radii of 7 - 12 pixels, the CIFAR objects' 8 - 13.
SCENE_RADIUS = (0.18, 0.30)

# Independent random streams: image i of stream s is drawn from default_rng([seed, s, i]).
_STREAMS = {'voc': 1, 'coco_train': 2, 'coco_val': 3, 'cifar_train': 4, 'cifar_test': 5}
_COCO_VAL_ID_OFFSET = 1_000_000
_BORDER = 255

Logger = Callable[[str], None]


# ------------------------------------------------------------------------------- scenes
def render_scene(rng: np.random.Generator, size: int,
                 max_objects: int = 3) -> Tuple[np.ndarray, List[dict]]:
    """Draw one detection/segmentation image.

    Args:
        rng (np.random.Generator): Source of randomness.
        size (int): Image height and width.
        max_objects (int): Upper bound on the number of objects (at least one is drawn).

    Returns:
        tuple[np.ndarray, list[dict]]: The ``size x size x 3`` uint8 RGB image and its objects,
        each ``dict(cls=<index into DRAWN_CLASSES>, poly=<N x 2 vertices>, mask=<bool H x W>)``.
    """
    image = textured_background(rng, size, size)
    objects: List[dict] = []
    boxes: List[Tuple[float, float, float, float]] = []
    wanted = int(rng.integers(1, max_objects + 1))
    for _ in range(40 * wanted):
        if len(objects) == wanted:
            break
        cls = int(rng.integers(len(DRAWN_CLASSES)))
        shape = DRAWN_CLASSES[cls][0]
        colour = TONES[int(rng.integers(len(TONES)))]  # the tone says nothing of the class
        radius = rng.uniform(*SCENE_RADIUS) * size
        aspect = rng.uniform(0.55, 1.0)
        angle = rng.uniform(0, 2 * np.pi)
        local = shape_polygon(shape, 0.0, 0.0, radius, angle, aspect)
        lo, hi = local.min(axis=0), local.max(axis=0)
        if np.any(hi - lo > size - 4):
            continue
        cx = rng.uniform(2 - lo[0], size - 2 - hi[0])
        cy = rng.uniform(2 - lo[1], size - 2 - hi[1])
        poly = np.round(local + np.array([cx, cy]), 2)
        x0, y0 = poly.min(axis=0)
        x1, y1 = poly.max(axis=0)
        if any(x0 < bx1 + 3 and bx0 < x1 + 3 and y0 < by1 + 3 and by0 < y1 + 3
               for bx0, by0, bx1, by1 in boxes):
            continue  # keep objects apart: boxes, masks and polygons then agree exactly
        mask = rasterize_polygon(poly, size, size)
        if mask.sum() < 12:
            continue
        jitter = rng.uniform(-20, 20, size=3)
        paint(image, mask, np.asarray(colour) + jitter, rng)
        boxes.append((x0, y0, x1, y1))
        objects.append(dict(cls=cls, poly=poly, mask=mask))
    return to_uint8(image), objects


def render_cifar_image(rng: np.random.Generator, label: int) -> np.ndarray:
    """Draw one 32 x 32 image of class ``CIFAR_CLASSES[label]``.

    Args:
        rng (np.random.Generator): Source of randomness.
        label (int): Index into :data:`CIFAR_CLASSES`.

    Returns:
        np.ndarray: ``32 x 32 x 3`` uint8 RGB image.
    """
    shape, colour, _ = CIFAR_CLASSES[label]
    image = textured_background(rng, 32, 32)
    radius = rng.uniform(8.0, 13.0)
    poly = shape_polygon(shape, 16 + rng.uniform(-3, 3), 16 + rng.uniform(-3, 3), radius,
                         rng.uniform(0, 2 * np.pi), rng.uniform(0.6, 1.0))
    paint(image, rasterize_polygon(poly, 32, 32), np.asarray(colour) + rng.uniform(-20, 20, 3),
          rng)
    return to_uint8(image)


def semantic_mask(objects: Sequence[dict], size: int) -> np.ndarray:
    """VOC-style label map: 0 background, VOC index + 1 inside objects, 255 on borders.

    A pixel is a border pixel when one of its 4-neighbours has another label, so the
    ignore band is two pixels wide, straddling each object's outline (like VOC's band).

    Args:
        objects (Sequence[dict]): Objects from :func:`render_scene`.
        size (int): Image height and width.

    Returns:
        np.ndarray: ``size x size`` uint8 label map.
    """
    labels = np.zeros((size, size), dtype=np.uint8)
    for obj in objects:
        labels[obj['mask']] = VOC_CLASSES.index(DRAWN_CLASSES[obj['cls']][1]) + 1
    border = np.zeros_like(labels, dtype=bool)
    diff_y = labels[1:, :] != labels[:-1, :]
    diff_x = labels[:, 1:] != labels[:, :-1]
    border[1:, :] |= diff_y
    border[:-1, :] |= diff_y
    border[:, 1:] |= diff_x
    border[:, :-1] |= diff_x
    labels[border] = _BORDER
    return labels


def mask_box(mask: np.ndarray) -> Tuple[int, int, int, int]:
    """Inclusive 0-based pixel box ``(xmin, ymin, xmax, ymax)`` of a non-empty mask."""
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


# ------------------------------------------------------------------------------- writers
def _save_jpeg(path: Path, image: np.ndarray) -> None:
    Image.fromarray(image).save(path, format='JPEG', quality=95)


def _voc_xml(image_id: str, size: int, objects: Sequence[dict]) -> str:
    root = ET.Element('annotation')
    ET.SubElement(root, 'folder').text = 'VOC2007'
    ET.SubElement(root, 'filename').text = f'{image_id}.jpg'
    source = ET.SubElement(root, 'source')
    ET.SubElement(source, 'database').text = 'kd_transfer synthetic shapes'
    ET.SubElement(source, 'annotation').text = 'PASCAL VOC2007'
    ET.SubElement(source, 'image').text = 'synthetic'
    size_el = ET.SubElement(root, 'size')
    ET.SubElement(size_el, 'width').text = str(size)
    ET.SubElement(size_el, 'height').text = str(size)
    ET.SubElement(size_el, 'depth').text = '3'
    ET.SubElement(root, 'segmented').text = '1'
    for obj in objects:
        xmin, ymin, xmax, ymax = mask_box(obj['mask'])
        el = ET.SubElement(root, 'object')
        ET.SubElement(el, 'name').text = DRAWN_CLASSES[obj['cls']][1]
        ET.SubElement(el, 'pose').text = 'Unspecified'
        ET.SubElement(el, 'truncated').text = '0'
        ET.SubElement(el, 'difficult').text = '0'
        box = ET.SubElement(el, 'bndbox')
        # VOC boxes are 1-based and inclusive.
        for key, value in zip(('xmin', 'ymin', 'xmax', 'ymax'), (xmin, ymin, xmax, ymax)):
            ET.SubElement(box, key).text = str(value + 1)
    ET.indent(root, space='\t')
    return ET.tostring(root, encoding='unicode') + '\n'


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    path.write_text(''.join(f'{line}\n' for line in lines))


def _progress(log: Logger, tag: str, done: int, total: int) -> None:
    step = max(1, total // 5)
    if done == total or done % step == 0:
        log(f'[{tag}] {done}/{total}')


def write_voc(root: Path, seed: int, num_train: int, num_val: int, size: int,
              log: Logger) -> Dict[str, int]:
    """Write ``root/VOCdevkit/VOC2007``.

    Images ``000001 .. num_train`` form ``Main/trainval`` (split alternately into ``train`` and
    ``val``); the next ``num_val`` images form ``Main/test``. For segmentation, as in the real
    VOC2007, ``Segmentation/trainval`` and ``Segmentation/test`` are disjoint (the same images
    as ``Main/trainval`` and ``Main/test``); ``Segmentation/train`` lists all trainval images and
    ``Segmentation/val`` (= ``test``) the held-out ones, so mmseg's usual ``train.txt`` /
    ``val.txt`` pair also trains and tests on disjoint sets.

    Args:
        root (Path): Output root (the temporary directory of :func:`make_synthetic_data`).
        seed (int): Seed.
        num_train (int): Trainval images.
        num_val (int): Test images.
        size (int): Image height and width.
        log (Callable[[str], None]): Progress sink.

    Returns:
        dict[str, int]: Number of objects per VOC class name.
    """
    voc = root / 'VOCdevkit' / 'VOC2007'
    dirs = {name: voc / name for name in
            ('JPEGImages', 'Annotations', 'SegmentationClass', 'ImageSets/Main',
             'ImageSets/Segmentation')}
    for d in dirs.values():
        d.mkdir(parents=True)
    palette = [c for rgb in voc_palette(256) for c in rgb]
    counts: Dict[str, int] = {}
    total = num_train + num_val
    ids = [f'{i:06d}' for i in range(1, total + 1)]
    for i, image_id in enumerate(ids):
        image, objects = render_scene(np.random.default_rng([seed, _STREAMS['voc'], i]), size)
        _save_jpeg(dirs['JPEGImages'] / f'{image_id}.jpg', image)
        (dirs['Annotations'] / f'{image_id}.xml').write_text(_voc_xml(image_id, size, objects))
        seg = Image.fromarray(semantic_mask(objects, size))  # 'L'; putpalette makes it 'P'
        seg.putpalette(palette)
        seg.save(dirs['SegmentationClass'] / f'{image_id}.png', format='PNG')
        for obj in objects:
            name = DRAWN_CLASSES[obj['cls']][1]
            counts[name] = counts.get(name, 0) + 1
        _progress(log, 'voc', i + 1, total)
    trainval, test = ids[:num_train], ids[num_train:]
    main, seg_sets = dirs['ImageSets/Main'], dirs['ImageSets/Segmentation']
    _write_lines(main / 'trainval.txt', trainval)
    _write_lines(main / 'train.txt', trainval[0::2])
    _write_lines(main / 'val.txt', trainval[1::2])
    _write_lines(main / 'test.txt', test)
    _write_lines(seg_sets / 'train.txt', trainval)
    _write_lines(seg_sets / 'val.txt', test)
    _write_lines(seg_sets / 'trainval.txt', trainval)  # disjoint from test, as VOC2007
    _write_lines(seg_sets / 'test.txt', test)
    return dict(sorted(counts.items()))


def _coco_split(root: Path, split: str, seed: int, num: int, size: int, id_offset: int,
                log: Logger) -> Dict[str, int]:
    coco = root / 'coco'
    img_dir = coco / split
    img_dir.mkdir(parents=True)
    cat_id = {name: cid for cid, name, _ in COCO_CATEGORIES}
    images, annotations, counts = [], [], {}
    stream = _STREAMS['coco_train' if split == 'train2017' else 'coco_val']
    for i in range(num):
        image_id = id_offset + i + 1
        file_name = f'{image_id:012d}.jpg'
        image, objects = render_scene(np.random.default_rng([seed, stream, i]), size)
        _save_jpeg(img_dir / file_name, image)
        images.append(dict(id=image_id, file_name=file_name, height=size, width=size, license=1,
                           coco_url='', flickr_url='', date_captured='2017-01-01 00:00:00'))
        for obj in objects:
            name = DRAWN_CLASSES[obj['cls']][2]
            seg = polygon_to_coco(obj['poly'])
            xs, ys = seg[0::2], seg[1::2]
            x0, y0 = min(xs), min(ys)
            annotations.append(dict(
                id=id_offset + len(annotations) + 1, image_id=image_id,
                category_id=cat_id[name], segmentation=[seg], area=float(obj['mask'].sum()),
                bbox=[x0, y0, round(max(xs) - x0, 2), round(max(ys) - y0, 2)], iscrowd=0))
            counts[name] = counts.get(name, 0) + 1
        _progress(log, f'coco {split}', i + 1, num)
    payload = dict(
        info=dict(description='kd_transfer synthetic shapes in COCO format', version='1.0',
                  year=2017, contributor='kd_transfer', date_created='2017/09/01'),
        licenses=[dict(id=1, name='synthetic data, no restrictions', url='')],
        images=images, annotations=annotations,
        categories=[dict(id=cid, name=name, supercategory=sup)
                    for cid, name, sup in COCO_CATEGORIES])
    ann_dir = coco / 'annotations'
    ann_dir.mkdir(exist_ok=True)
    (ann_dir / f'instances_{split}.json').write_text(json.dumps(payload))
    return dict(sorted(counts.items()))


def write_coco(root: Path, seed: int, num_train: int, num_val: int, size: int,
               log: Logger) -> Dict[str, Dict[str, int]]:
    """Write ``root/coco/{annotations,train2017,val2017}``.

    Args:
        root (Path): Output root (the temporary directory of :func:`make_synthetic_data`).
        seed (int): Seed.
        num_train (int): train2017 images.
        num_val (int): val2017 images (image ids start at 1 000 001).
        size (int): Image height and width.
        log (Callable[[str], None]): Progress sink.

    Returns:
        dict[str, dict[str, int]]: Per split, the number of objects per COCO category name.
    """
    return {
        'train2017': _coco_split(root, 'train2017', seed, num_train, size, 0, log),
        'val2017': _coco_split(root, 'val2017', seed, num_val, size, _COCO_VAL_ID_OFFSET, log),
    }


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler lets us swap one opcode
    """Protocol-2 pickler that stores ``bytes`` as Python-2 ``str`` (``BINSTRING``) opcodes.

    This is how the original CIFAR pickles (written by Python 2) store their keys, names and
    pixel buffers: ``pickle.load(f, encoding='bytes')`` returns bytes, ``encoding='latin1'``
    returns str.
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack('<i', n) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def _py2_pickle(path: Path, obj: dict) -> None:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    path.write_bytes(buf.getvalue())


def _cifar_batch(seed: int, stream: str, num: int, batch_label: bytes,
                 log: Logger) -> dict:
    order_rng = np.random.default_rng([seed, _STREAMS[stream], 2**31])
    labels = order_rng.permutation(np.arange(num) % len(CIFAR_CLASSES))
    data = np.empty((num, 3072), dtype=np.uint8)
    fine, names = [], []
    for i, label in enumerate(labels):
        image = render_cifar_image(np.random.default_rng([seed, _STREAMS[stream], i]), int(label))
        data[i] = image.transpose(2, 0, 1).reshape(-1)  # R plane, G plane, B plane
        shape, colour, fine_name = CIFAR_CLASSES[int(label)]
        fine.append(CIFAR100_FINE.index(fine_name))
        tone = 'warm' if colour == _WARM else 'cool'
        names.append(f'{tone}_{shape}_s_{i:06d}.png'.encode())
        _progress(log, f'cifar100 {stream.split("_")[1]}', i + 1, num)
    return {b'filenames': names, b'batch_label': batch_label, b'fine_labels': fine,
            b'coarse_labels': [CIFAR100_FINE_TO_COARSE[f] for f in fine], b'data': data}


def write_cifar100(root: Path, seed: int, num_train: int, num_test: int,
                   log: Logger) -> None:
    """Write ``root/cifar100/cifar-100-python/{train,test,meta}``.

    Args:
        root (Path): Output root (the temporary directory of :func:`make_synthetic_data`).
        seed (int): Seed.
        num_train (int): Images in ``train``.
        num_test (int): Images in ``test``.
        log (Callable[[str], None]): Progress sink.
    """
    out = root / 'cifar100' / 'cifar-100-python'
    out.mkdir(parents=True)
    _py2_pickle(out / 'train', _cifar_batch(seed, 'cifar_train', num_train,
                                            b'training batch 1 of 1', log))
    _py2_pickle(out / 'test', _cifar_batch(seed, 'cifar_test', num_test,
                                           b'testing batch 1 of 1', log))
    _py2_pickle(out / 'meta', {b'fine_label_names': [n.encode() for n in CIFAR100_FINE],
                               b'coarse_label_names': [n.encode() for n in CIFAR100_COARSE]})


# ------------------------------------------------------------------------------- entry point
def _check_args(num_train: int, num_val: int, image_size: int, cifar_train: int,
                cifar_test: int) -> None:
    for name, value, low in (('num_train', num_train, 2), ('num_val', num_val, 1),
                             ('image_size', image_size, 32), ('cifar_train', cifar_train, 1),
                             ('cifar_test', cifar_test, 1)):
        if not isinstance(value, int) or value < low:
            raise ValueError(f'{name} must be an integer >= {low}, got {value!r}')


def make_synthetic_data(out_dir: 'str | os.PathLike', seed: int = 0, num_train: int = 200,
                        num_val: int = 50, image_size: int = 128, cifar_train: int = 5000,
                        cifar_test: int = 1000, force: bool = False,
                        log: Logger = print) -> Path:
    """Generate the synthetic VOC2007, COCO2017 and CIFAR-100 datasets into ``out_dir``.

    The data are written into a sibling temporary directory ``<out_dir>.tmp-*`` that is
    renamed to ``out_dir`` only when complete, so ``out_dir`` never holds a half-written set.

    Args:
        out_dir (str | os.PathLike): Destination directory (created with its parents).
        seed (int): Seed; the same arguments give byte-identical files.
        num_train (int): VOC trainval images and COCO train2017 images.
        num_val (int): VOC test images and COCO val2017 images.
        image_size (int): Height and width of the VOC / COCO images.
        cifar_train (int): Images in the CIFAR-100 ``train`` pickle.
        cifar_test (int): Images in the CIFAR-100 ``test`` pickle.
        force (bool): Replace an existing non-empty ``out_dir``.
        log (Callable[[str], None]): Receives progress and summary lines.

    Returns:
        Path: ``out_dir`` as an absolute path.

    Raises:
        FileExistsError: ``out_dir`` is a file, or a non-empty directory and ``force`` is False.
        ValueError: A size argument is out of range.
    """
    _check_args(num_train, num_val, image_size, cifar_train, cifar_test)
    out = check_output_dir(out_dir, force)
    with atomic_output_dir(out, force) as tmp:
        log(f'writing synthetic data (seed {seed}) into {tmp}')
        voc_counts = write_voc(tmp, seed, num_train, num_val, image_size, log)
        coco_counts = write_coco(tmp, seed, num_train, num_val, image_size, log)
        write_cifar100(tmp, seed, cifar_train, cifar_test, log)
        info = dict(generator='kd_transfer.datasets.synthetic', seed=seed, image_size=image_size,
                    voc=dict(trainval=num_train, test=num_val, objects=voc_counts),
                    coco=dict(train2017=num_train, val2017=num_val, objects=coco_counts),
                    cifar100=dict(train=cifar_train, test=cifar_test,
                                  classes=[c[2] for c in CIFAR_CLASSES]))
        (tmp / 'synthetic_info.json').write_text(json.dumps(info, indent=2) + '\n')
    log(f'done: {out}')
    log(f'  VOCdevkit/VOC2007: {num_train} trainval + {num_val} test images '
        f'({image_size}x{image_size}), objects {voc_counts}')
    log(f'  coco: {num_train} train2017 + {num_val} val2017 images, objects '
        f'{coco_counts["train2017"]} / {coco_counts["val2017"]}')
    log(f'  cifar100/cifar-100-python: {cifar_train} train + {cifar_test} test images, '
        f'{len(CIFAR_CLASSES)} of the 100 fine classes used')
    return out
