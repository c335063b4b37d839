"""COCO instance annotations -> semantic segmentation masks, and an mmseg dataset to read them.

:func:`convert_coco_to_semseg` turns ``annotations/instances_<split>.json`` into one uint8
palette PNG per image, ``<out>/<split>/<image stem>.png``, plus ``<out>/classes.txt``:

* ``classes='coco80'``: 0 = background, 1..80 = the 80 thing categories in COCO id order;
* ``classes='voc20'``: 0 = background, 1..20 = the VOC classes (COCO categories that are VOC
  classes, e.g. airplane -> aeroplane, couch -> sofa, tv -> tvmonitor); other categories are 0.

Each ``segmentation`` (polygons, multi-polygon instances, compressed RLE with string
``counts`` and the uncompressed RLE ``{"counts": [ints], "size": [h, w]}`` of every
``iscrowd: 1`` annotation of the official files) is decoded as pycocotools'
``COCO.annToMask`` decodes it. Painting rule (docs/coco_semseg.md):

1. everything starts as background (0);
2. annotations whose category is outside the label space (``voc20``: the 60 non-VOC
   categories) paint nothing, so they never overwrite a VOC object;
3. crowd regions (``iscrowd=1``) of the label space become 255 (ignored);
4. the non-crowd instances of the label space are painted over that, from the largest mask
   (pixel count) to the smallest, so a small object lying on a large one stays visible;
   equal areas are painted in json order (the later one ends on top).

``COCOSemSegDataset`` (registered in mmseg's ``DATASETS`` when mmseg is installed) reads the
images with these masks, ``classes_variant`` choosing the 81- or 21-class label space.
"""
import importlib.util
import json
import os
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from .atomic import atomic_output_dir, check_output_dir
from .class_names import COCO_CATEGORIES, COCO_TO_VOC, VOC_CLASSES, voc_palette

CLASS_VARIANTS = ('coco80', 'voc20')
IGNORE_INDEX = 255
Logger = Callable[[str], None]


def semseg_classes(variant: str) -> Tuple[str, ...]:
    """Class names of a label space, index 0 being ``'background'``.

    Args:
        variant (str): ``'coco80'`` (81 names) or ``'voc20'`` (21 names).
    """
    if variant == 'coco80':
        return ('background', ) + tuple(name for _, name, _ in COCO_CATEGORIES)
    if variant == 'voc20':
        return ('background', ) + VOC_CLASSES
    raise ValueError(f'classes variant must be one of {CLASS_VARIANTS}, got {variant!r}')


def category_to_label(categories: Sequence[dict], variant: str,
                      source: str = '<json>') -> Dict[int, int]:
    """Map the ``category_id`` of a COCO json to labels of the chosen label space.

    Categories are matched by name against the 80 COCO thing categories; an id or a name
    given twice is refused (the second entry would silently relabel or drop annotations).

    Args:
        categories (Sequence[dict]): The json's ``categories`` entries (``id`` and ``name``).
        variant (str): ``'coco80'`` or ``'voc20'``.
        source (str): File name used in error messages.

    Returns:
        dict[int, int]: category id -> label (0 for categories outside a ``voc20`` space).

    Raises:
        ValueError: A category lacks ``id`` / ``name``, is not a COCO thing category, or
            repeats the id or the name of an earlier one.
    """
    classes = semseg_classes(variant)
    lut = {}
    names: Dict[str, int] = {}
    coco_names = {name for _, name, _ in COCO_CATEGORIES}
    for i, cat in enumerate(categories):
        if not isinstance(cat, dict) or not isinstance(cat.get('id'), int) \
                or not isinstance(cat.get('name'), str):
            raise ValueError(f'{source}: categories[{i}] must be a dict with an int "id" and a '
                             f'str "name", got {cat!r}')
        name = cat['name']
        if name not in coco_names:
            raise ValueError(f'{source}: categories[{i}] name {name!r} is not one of the 80 '
                             'COCO thing categories')
        if cat['id'] in lut:
            raise ValueError(f'{source}: categories[{i}] ({name!r}) repeats category id '
                             f'{cat["id"]}; each category needs its own id')
        if name in names:
            raise ValueError(f'{source}: categories[{i}] repeats the name {name!r} of '
                             f'categories[{names[name]}]; each category must appear once')
        names[name] = i
        if variant == 'coco80':
            lut[cat['id']] = classes.index(name)
        else:
            lut[cat['id']] = classes.index(COCO_TO_VOC[name]) if name in COCO_TO_VOC else 0
    return lut


def _check_image(img, index: int) -> Optional[str]:
    if not isinstance(img, dict):
        return f'images[{index}] is a {type(img).__name__}, expected a dict'
    for key in ('id', 'height', 'width'):
        if not isinstance(img.get(key), int) or (key != 'id' and img[key] <= 0):
            return f'images[{index}] needs a positive int "{key}", got {img.get(key)!r}'
    if not isinstance(img.get('file_name'), str) or not img['file_name']:
        return f'images[{index}] (id {img["id"]}) needs a "file_name"'
    return None


def _check_annotation(ann, index: int, images: Dict[int, dict],
                      lut: Dict[int, int]) -> Optional[str]:
    where = f'annotations[{index}]'
    if not isinstance(ann, dict):
        return f'{where} is a {type(ann).__name__}, expected a dict'
    where += f' (id {ann.get("id")!r})'
    if ann.get('image_id') not in images:
        return f'{where} refers to unknown image_id {ann.get("image_id")!r}'
    if ann.get('category_id') not in lut:
        return f'{where} has unknown category_id {ann.get("category_id")!r}'
    if ann.get('iscrowd', 0) not in (0, 1):
        return f'{where} has iscrowd {ann.get("iscrowd")!r}, expected 0 or 1'
    seg = ann.get('segmentation')
    img = images[ann['image_id']]
    if isinstance(seg, list):
        if not seg:
            return f'{where} has an empty segmentation list'
        for poly in seg:
            if not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2 or not all(
                    _is_number(v) and np.isfinite(v) for v in poly):
                return (f'{where}: each polygon must be a list of an even number (>= 6) of '
                        f'finite coordinates, got {str(poly)[:80]}')
    elif isinstance(seg, dict):
        size = seg.get('size')
        if not isinstance(size, list) or size != [img['height'], img['width']]:
            return (f'{where}: RLE "size" {size!r} does not match the image size [height, '
                    f'width] = [{img["height"]}, {img["width"]}]')
        counts = seg.get('counts')
        if isinstance(counts, list):  # uncompressed RLE (the official iscrowd=1 entries)
            if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0
                       for c in counts):
                return f'{where}: uncompressed RLE "counts" must be non-negative integers'
            if sum(counts) > img['height'] * img['width']:  # pycocotools refuses these
                return (f'{where}: uncompressed RLE "counts" sum to {sum(counts)}, more than '
                        f'height x width = {img["height"] * img["width"]} pixels')
        elif not isinstance(counts, str) or not counts:
            return (f'{where}: RLE "counts" must be a list of run lengths (uncompressed) or '
                    f'a non-empty string (compressed), got {type(counts).__name__}')
    else:
        return f'{where} needs a "segmentation" (polygon list or RLE dict), got {seg!r}'
    return None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def annotation_mask(segmentation, height: int, width: int) -> np.ndarray:
    """Decode a COCO ``segmentation`` into a bool ``height x width`` mask, as pycocotools'
    ``COCO.annToMask`` does: polygons (one instance may have several) are rasterised and
    merged, an uncompressed RLE (``counts`` a list of run lengths) is compressed first, a
    compressed RLE (``counts`` a string) is decoded as it is."""
    from pycocotools import mask as mask_utils  # imported here: only the converter needs it
    if isinstance(segmentation, list):
        polygons = [[float(v) for v in poly] for poly in segmentation]
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    elif isinstance(segmentation.get('counts'), list):
        # pycocotools' C code takes the run lengths as unsigned 32-bit ints
        rle = mask_utils.frPyObjects(
            dict(size=[int(v) for v in segmentation['size']],
                 counts=[int(c) for c in segmentation['counts']]), height, width)
    else:
        rle = dict(size=[int(v) for v in segmentation['size']], counts=segmentation['counts'])
        if isinstance(rle['counts'], str):
            rle['counts'] = rle['counts'].encode('ascii')
    mask = mask_utils.decode(rle)
    if mask.shape != (height, width):
        raise ValueError(f'decoded mask is {mask.shape[0]} x {mask.shape[1]}, expected '
                         f'{height} x {width}')
    return mask.astype(bool)


def render_semantic_mask(image: dict, annotations: Sequence[dict],
                         lut: Dict[int, int]) -> np.ndarray:
    """Paint the semantic label map of one image (the rule of the module docstring).

    Args:
        image (dict): The json's image entry (``height``, ``width``).
        annotations (Sequence[dict]): Its (validated) annotations.
        lut (dict[int, int]): category id -> label (0: outside the label space).

    Returns:
        np.ndarray: ``height x width`` uint8 labels (255 on crowd regions of foreground classes).

    Raises:
        ValueError: pycocotools could not decode a segmentation; the message names the
            annotation id.
    """
    h, w = image['height'], image['width']
    labels = np.zeros((h, w), dtype=np.uint8)
    instances = []
    crowd = np.zeros((h, w), dtype=bool)
    for ann in annotations:
        try:  # decoded even when unused, so a broken entry is reported in every label space
            mask = annotation_mask(ann['segmentation'], h, w)
        except Exception as err:  # pycocotools raises several types
            raise ValueError(f'annotation id {ann.get("id")!r}: cannot decode its '
                             f'segmentation ({err})') from err
        label = lut[ann['category_id']]
        if label == 0:  # outside the label space: never overwrites a labelled object
            continue
        if ann.get('iscrowd', 0):
            crowd |= mask
        else:
            instances.append((int(mask.sum()), mask, label))
    labels[crowd] = IGNORE_INDEX
    for _, mask, label in sorted(instances, key=lambda t: -t[0]):  # stable: ties keep json order
        labels[mask] = label
    return labels


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f'{path} not found; expected <coco_root>/annotations/'
                                'instances_<split>.json (see data/README.md)')
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f'{path} is not valid JSON: {err}') from err
    if not isinstance(data, dict):
        raise ValueError(f'{path}: top level must be an object, got {type(data).__name__}')
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(data.get(key), list):
            raise ValueError(f'{path}: "{key}" must be a list (COCO instances format)')
    return data


def _convert_split(coco_root: Path, split: str, out_split: Path, variant: str,
                   on_error: str, log: Logger) -> Dict[str, int]:
    ann_path = coco_root / 'annotations' / f'instances_{split}.json'
    data = _load_json(ann_path)
    lut = category_to_label(data['categories'], variant, str(ann_path))
    img_dir = coco_root / split
    problems: List[str] = []

    def bad(message: str) -> None:
        if on_error == 'fail':
            raise ValueError(f'{ann_path}: {message} (use --on-error skip to skip such entries)')
        problems.append(message)

    images: Dict[int, dict] = {}
    for i, img in enumerate(data['images']):
        problem = _check_image(img, i)
        if problem is None and img['id'] in images:
            problem = f'images[{i}] repeats image id {img["id"]}'
        if problem is None and not (img_dir / img['file_name']).is_file():
            problem = f'images[{i}] file {img_dir / img["file_name"]} does not exist'
        if problem:
            bad(problem)
        else:
            images[img['id']] = img
    per_image: Dict[int, List[dict]] = {i: [] for i in images}
    for i, ann in enumerate(data['annotations']):
        problem = _check_annotation(ann, i, images, lut)
        if problem:
            bad(problem)
        else:
            per_image[ann['image_id']].append(ann)
    out_split.mkdir(parents=True)
    palette = [c for rgb in voc_palette(256) for c in rgb]
    total, used, written = len(images), 0, 0
    step = max(1, total // 10)
    for n, (image_id, img) in enumerate(images.items(), 1):
        anns = per_image[image_id]
        try:
            labels = render_semantic_mask(img, anns, lut)
        except ValueError:  # find the entries pycocotools refuses; skip only those
            anns = []
            for ann in per_image[image_id]:
                try:
                    annotation_mask(ann['segmentation'], img['height'], img['width'])
                except Exception as err:
                    bad(f'image id {image_id}: annotation id {ann.get("id")!r}: cannot '
                        f'decode its segmentation ({err})')
                else:
                    anns.append(ann)
            labels = render_semantic_mask(img, anns, lut)
        png = Image.fromarray(labels)  # 'L'; putpalette makes it 'P'
        png.putpalette(palette)
        png.save(out_split / (Path(img['file_name']).stem + '.png'), format='PNG')
        used += len(anns)
        written += 1
        if n % step == 0 or n == total:
            log(f'[coco_to_semseg {split}] {n}/{total} images')
    if problems:
        log(f'WARNING: {ann_path}: skipped {len(problems)} malformed entr'
            f'{"y" if len(problems) == 1 else "ies"}; first: {problems[0]}')
    return dict(images=written, annotations=used, skipped=len(problems))


def convert_coco_to_semseg(coco_root: 'str | os.PathLike',
                           out_dir: 'str | os.PathLike',
                           classes: str = 'coco80',
                           splits: Sequence[str] = ('train2017', 'val2017'),
                           on_error: str = 'fail',
                           force: bool = False,
                           log: Logger = print) -> Dict[str, Dict[str, int]]:
    """Write semantic masks for the given COCO splits (atomically) into ``out_dir``.

    Args:
        coco_root (str | os.PathLike): Directory with ``annotations/instances_<split>.json``
            and the ``<split>/`` image directories.
        out_dir (str | os.PathLike): Destination; receives ``<split>/*.png`` and ``classes.txt``.
        classes (str): ``'coco80'`` or ``'voc20'``.
        splits (Sequence[str]): Splits to convert.
        on_error (str): ``'fail'`` raises on the first malformed image/annotation entry;
            ``'skip'`` skips such entries and logs how many were skipped.
        force (bool): Replace an existing non-empty ``out_dir``.
        log (Callable[[str], None]): Receives progress and summary lines.

    Returns:
        dict[str, dict[str, int]]: Per split, the number of images written, annotations used
        and entries skipped.

    Raises:
        FileNotFoundError: The json of a split is missing.
        FileExistsError: ``out_dir`` is non-empty and ``force`` is False.
        ValueError: Malformed json (or a malformed entry with ``on_error='fail'``).
    """
    semseg_classes(classes)  # validates the variant
    if on_error not in ('skip', 'fail'):
        raise ValueError(f"on_error must be 'skip' or 'fail', got {on_error!r}")
    coco_root = Path(coco_root)
    if not coco_root.is_dir():
        raise FileNotFoundError(f'COCO root {coco_root} does not exist; expected '
                                '<coco_root>/annotations/instances_<split>.json and '
                                '<coco_root>/<split>/*.jpg (see data/README.md)')
    out = check_output_dir(out_dir, force)
    summary = {}
    with atomic_output_dir(out, force) as tmp:
        for split in splits:
            summary[split] = _convert_split(coco_root, split, tmp / split, classes, on_error, log)
        (tmp / 'classes.txt').write_text(''.join(f'{c}\n' for c in semseg_classes(classes)))
    for split, s in summary.items():
        log(f'{split}: {s["images"]} masks from {s["annotations"]} annotations, '
            f'{s["skipped"]} skipped -> {out / split}')
    log(f'classes ({classes}, {len(semseg_classes(classes))} incl. background): '
        f'{out / "classes.txt"}')
    return summary


def semseg_metainfo(variant: str) -> dict:
    """``classes`` and ``palette`` (VOC colour map) of a label space, for mmseg."""
    classes = semseg_classes(variant)
    return dict(classes=classes, palette=[list(c) for c in voc_palette(len(classes))])


# The dataset class needs mmseg, the converter above does not: without mmseg installed the
# class is simply not defined (a broken mmseg install still raises).
if importlib.util.find_spec('mmseg') is not None:
    from mmseg.datasets import BaseSegDataset
    from mmseg.registry import DATASETS as MMSEG_DATASETS

    @MMSEG_DATASETS.register_module()
    class COCOSemSegDataset(BaseSegDataset):
        """COCO images with the semantic masks written by ``tools/coco_to_semseg.py``.

        Typical use (``data_root`` = the COCO root, masks converted into ``semseg_coco80/``)::

            dict(type='COCOSemSegDataset', classes_variant='coco80', data_root='data/coco',
                 data_prefix=dict(img_path='train2017', seg_map_path='semseg_coco80/train2017'))

        Label 0 is background (a real class here, so ``reduce_zero_label`` stays False) and
        255 is ignored.

        Args:
            classes_variant (str): ``'coco80'`` (81 classes) or ``'voc20'`` (21 classes); must
                match the converter's ``--classes``.
            img_suffix (str): Image file suffix.
            seg_map_suffix (str): Mask file suffix.
            metainfo (dict, optional): Extra meta information (``classes`` is fixed by
                ``classes_variant``).
            **kwargs: Other arguments of :class:`mmseg.datasets.BaseSegDataset`
                (``data_root``, ``data_prefix``, ``pipeline``, ``ann_file``, ...).
        """

        METAINFO: dict = dict()  # set per instance from classes_variant

        def __init__(self,
                     classes_variant: str = 'coco80',
                     img_suffix: str = '.jpg',
                     seg_map_suffix: str = '.png',
                     metainfo: Optional[dict] = None,
                     **kwargs) -> None:
            meta = semseg_metainfo(classes_variant)
            if metainfo and 'classes' in metainfo and \
                    list(metainfo['classes']) != list(meta['classes']):
                raise ValueError('COCOSemSegDataset: choose the label space with '
                                 f"classes_variant ({CLASS_VARIANTS}), not metainfo['classes']")
            meta.update(metainfo or {})
            self.classes_variant = classes_variant
            super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                             metainfo=meta, reduce_zero_label=False, **kwargs)
