"""Early checks of the VOC and COCO layouts that mmdet / mmseg read.

mmdet's ``VOCDataset`` and ``CocoDataset`` fail deep inside a dataloader worker on a
missing file or a broken annotation, often without naming it. These checks run before
training and raise an error that names the file and what was expected there.
"""
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

from .box_checks import voc_box_problem

PathLike = Union[str, Path]
VOC_LAYOUT = ('<data_root>/VOCdevkit/VOC2007/{JPEGImages/<id>.jpg, Annotations/<id>.xml, '
              'ImageSets/Main/<set>.txt, ImageSets/Segmentation/<set>.txt, '
              'SegmentationClass/<id>.png} (see data/README.md)')
COCO_LAYOUT = ('<coco_root>/annotations/instances_<split>.json and <coco_root>/<split>/*.jpg '
               '(see data/README.md)')


def _read_ids(path: Path) -> List[str]:
    if not path.is_file():
        raise FileNotFoundError(f'image-set file {path} not found; expected {VOC_LAYOUT}')
    ids = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise ValueError(f'image-set file {path} lists no image id')
    return ids


def repeated_ids(ids: Sequence[str], path: PathLike) -> Tuple[List[str], List[str]]:
    """``(ids without repeats, one problem per repeated id)`` of an image-set list.

    mmdet's ``VOCDataset`` and mmseg's datasets read every line, so an id listed twice is
    trained on twice (weighted double) without a word.
    """
    count: dict = {}
    for image_id in ids:
        count[image_id] = count.get(image_id, 0) + 1
    problems = [f'image-set file {path}: image id {image_id!r} is listed {n} times (it would be '
                f'read {n} times per epoch); list each id once'
                for image_id, n in count.items() if n > 1]
    return list(count), problems


def check_voc_annotation(path: PathLike, classes: Optional[Sequence[str]] = None) -> int:
    """Parse one VOC XML file and check the fields mmdet reads.

    mmdet's ``XMLDataset`` reads ``size/width``, ``size/height`` and, per object, ``name``,
    ``difficult`` (``int(text)``) and the four ``bndbox`` values (``int(float(text))``); it
    silently drops an object whose name is not in the dataset's classes.

    Args:
        path (str | Path): The ``Annotations/<id>.xml`` file.
        classes (Sequence[str], optional): The dataset's class names; an object of another
            class is an error (mmdet would drop it without a word).

    Returns:
        int: Number of objects.

    Raises:
        FileNotFoundError: The file is missing.
        ValueError: Malformed XML, a missing / non-numeric / non-finite field, a ``difficult``
            other than 0 or 1, or an unknown class (the file, object and field are named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'VOC annotation {path} not found; expected {VOC_LAYOUT}')
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise ValueError(f'VOC annotation {path} is not well-formed XML: {err}') from err
    for key in ('size/width', 'size/height'):
        text = root.findtext(key)
        if text is None or not text.strip().isdigit() or int(text) <= 0:
            raise ValueError(f'VOC annotation {path}: <{key}> must be a positive integer, got '
                             f'{text!r}')
    objects = root.findall('object')
    for i, obj in enumerate(objects):
        raw = obj.findtext('name') or ''
        name = raw.strip()
        if not name:
            raise ValueError(f'VOC annotation {path}: object {i} has no <name>')
        if classes is not None and name in classes and raw != name:
            raise ValueError(f'VOC annotation {path}: object {i} <name> {raw!r} has white space '
                             f'around {name!r}; mmdet compares the text as it is and would '
                             'drop the object silently')
        if classes is not None and name not in classes:
            raise ValueError(f'VOC annotation {path}: object {i} <name> {name!r} is not one of '
                             f'the dataset classes ({", ".join(classes)}); mmdet would drop '
                             'it silently')
        difficult = obj.findtext('difficult')
        if difficult is not None and difficult.strip() not in ('0', '1'):
            raise ValueError(f'VOC annotation {path}: object {i} <difficult> must be 0 or 1, '
                             f'got {difficult!r}')
        for key in ('xmin', 'ymin', 'xmax', 'ymax'):
            text = obj.findtext(f'bndbox/{key}')
            try:
                value = float(text)
            except (TypeError, ValueError):
                raise ValueError(f'VOC annotation {path}: object {i} <bndbox><{key}> must be a '
                                 f'number, got {text!r}') from None
            if not math.isfinite(value):
                raise ValueError(f'VOC annotation {path}: object {i} <bndbox><{key}> must be a '
                                 f'finite number, got {text!r}')
        box = [float(obj.findtext(f'bndbox/{k}')) for k in ('xmin', 'ymin', 'xmax', 'ymax')]
        why = voc_box_problem(*box, int(root.findtext('size/width')),
                              int(root.findtext('size/height')))
        if why:
            raise ValueError(f'VOC annotation {path}: object {i} ({name}) {why}')
    return len(objects)


def check_voc(data_root: PathLike, year: str = 'VOC2007',
              image_set: str = 'ImageSets/Main/trainval.txt',
              segmentation: bool = False) -> List[str]:
    """Check that every image of a VOC image set has its files, and parse its annotations.

    Args:
        data_root (str | Path): Directory holding ``VOCdevkit/`` (or ``VOCdevkit`` itself).
        year (str): ``'VOC2007'`` or ``'VOC2012'``.
        image_set (str): Image-set file relative to ``VOCdevkit/<year>``.
        segmentation (bool): Check ``SegmentationClass/<id>.png`` instead of the XML files.

    Returns:
        list[str]: The image ids of the set.
    """
    root = Path(data_root)
    if (root / 'VOCdevkit').is_dir():
        root = root / 'VOCdevkit'
    voc = root / year
    if not voc.is_dir():
        raise FileNotFoundError(f'{voc} does not exist; expected {VOC_LAYOUT}')
    ids = _read_ids(voc / image_set)
    for image_id in ids:
        image = voc / 'JPEGImages' / f'{image_id}.jpg'
        if not image.is_file():
            raise FileNotFoundError(f'{image} (listed in {voc / image_set}) not found')
        if segmentation:
            seg = voc / 'SegmentationClass' / f'{image_id}.png'
            if not seg.is_file():
                raise FileNotFoundError(f'{seg} (listed in {voc / image_set}) not found')
        else:
            check_voc_annotation(voc / 'Annotations' / f'{image_id}.xml')
    return ids


def check_coco(coco_root: PathLike, split: str = 'train2017') -> int:
    """Check a COCO split: the json parses, has the instance keys, and its images exist.

    Args:
        coco_root (str | Path): Directory with ``annotations/`` and the image directories.
        split (str): e.g. ``'train2017'``.

    Returns:
        int: Number of images.
    """
    root = Path(coco_root)
    ann = root / 'annotations' / f'instances_{split}.json'
    if not ann.is_file():
        raise FileNotFoundError(f'{ann} not found; expected {COCO_LAYOUT}')
    try:
        data = json.loads(ann.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f'{ann} is not valid JSON: {err}') from err
    if not isinstance(data, dict):
        raise ValueError(f'{ann}: top level must be an object')
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(data.get(key), list):
            raise ValueError(f'{ann}: "{key}" must be a list (COCO instances format)')
    img_dir = root / split
    if not img_dir.is_dir():
        raise FileNotFoundError(f'image directory {img_dir} not found; expected {COCO_LAYOUT}')
    for i, img in enumerate(data['images']):
        name = img.get('file_name') if isinstance(img, dict) else None
        if not isinstance(name, str) or not (img_dir / name).is_file():
            raise FileNotFoundError(f'{ann}: images[{i}] file {img_dir / str(name)} not found')
    return len(data['images'])
