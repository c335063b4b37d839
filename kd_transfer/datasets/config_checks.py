""":func:`check_datasets`, :func:`check_not_empty` and :func:`refuse_existing_checkpoints`
are the early checks of ``tools/train.py`` / ``tools/test.py``: missing roots and annotation
files, malformed VOC XML / COCO JSON entries (``--on-bad-annotation fail|skip``), COCO
categories that would mislabel, unreadable images, bad segmentation masks, empty
datasets, and a work dir whose checkpoints a new run would overwrite (docs/data_checks.md).
"""
import json
import math
import os
import os.path as osp
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.logging import print_log

from ..fileio import atomic_write
from ..pretrained_init import _few


_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def _leaf_datasets(cfg: Any) -> Iterator[dict]:
    """Every dataset config inside a (Repeat / Concat / ClassBalanced...) dataset config."""
    if not isinstance(cfg, dict):
        return
    inner = [cfg[k] for k in ('dataset', 'datasets') if k in cfg]
    if not inner:
        yield cfg
        return
    for value in inner:
        for item in (value if isinstance(value, (list, tuple)) else [value]):
            yield from _leaf_datasets(item)


def _join(root: Optional[str], path: Optional[str]) -> Optional[str]:
    if not path:
        return None
    return path if osp.isabs(path) or not root else osp.join(root, path)


def _classes(ds: dict, default: Sequence[str]) -> Tuple[Tuple[str, ...], bool]:
    """``(class names, whether the config chose them)`` of a dataset config."""
    given = (ds.get('metainfo') or {}).get('classes')
    return (tuple(given), True) if given else (tuple(default), False)


def _check_voc(ds: dict) -> Tuple[List[str], List[str]]:
    """``(good ids, problems)`` of an mmdet ``VOCDataset`` config."""
    from .class_names import VOC_CLASSES
    from .file_checks import image_problem
    from .layout import VOC_LAYOUT, _read_ids, check_voc_annotation, repeated_ids
    root = ds.get('data_root') or ''
    sub = (ds.get('data_prefix') or {}).get('sub_data_root', '')
    ann = _join(root, ds['ann_file'])
    ids, problems = repeated_ids(_read_ids(Path(ann)), ann)  # skip mode keeps the first
    classes, _ = _classes(ds, VOC_CLASSES)
    good = []
    for image_id in ids:
        xml = osp.join(root, sub, 'Annotations', f'{image_id}.xml')
        img = osp.join(root, sub, 'JPEGImages', f'{image_id}.jpg')
        try:
            check_voc_annotation(xml, classes)
            if not osp.isfile(img):
                raise FileNotFoundError(f'image {img} (listed in {ann}) not found; expected '
                                        f'{VOC_LAYOUT}')
            unreadable = image_problem(img)
            if unreadable:
                raise ValueError(f'{unreadable} (listed in {ann})')
        except (ValueError, FileNotFoundError) as err:
            problems.append(str(err))
            continue
        good.append(image_id)
    return good, problems


def _bad_coco_annotation(ann: Any, image_ids: set, cat_ids: set,
                         sizes: Optional[dict] = None) -> Optional[str]:
    if not isinstance(ann, dict):
        return f'is a {type(ann).__name__}, expected an object'
    for key in ('id', 'image_id', 'category_id'):
        if not isinstance(ann.get(key), int) or isinstance(ann.get(key), bool):
            return f'"{key}" must be an integer, got {ann.get(key)!r}'
    bbox = ann.get('bbox')
    if not (isinstance(bbox, (list, tuple)) and len(bbox) == 4 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in bbox)):
        return f'"bbox" must be [x, y, w, h] (4 finite numbers), got {bbox!r}'
    if ann['image_id'] not in image_ids:
        return f'"image_id" {ann["image_id"]} is not in "images"'
    if ann['category_id'] not in cat_ids:
        return f'"category_id" {ann["category_id"]} is not in "categories"'
    from .box_checks import coco_box_problem
    return coco_box_problem(bbox, *(sizes or {}).get(ann['image_id'], (None, None)))


def _check_coco(ds: dict) -> Tuple[dict, List[str], str]:
    """``(cleaned json, problems, path)`` of an mmdet ``CocoDataset`` config."""
    from .layout import COCO_LAYOUT
    root = ds.get('data_root') or ''
    ann = _join(root, ds['ann_file'])
    if not osp.isfile(ann):
        raise FileNotFoundError(f'COCO annotation file {ann} not found; expected {COCO_LAYOUT}')
    try:
        with open(ann, encoding='utf-8') as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f'COCO annotation file {ann} is not valid JSON ({err}); expected the '
                         'COCO instances format') from None
    if not isinstance(data, dict) or not all(
            isinstance(data.get(k), list) for k in ('images', 'annotations', 'categories')):
        raise ValueError(f'COCO annotation file {ann}: expected an object with the lists '
                         '"images", "annotations" and "categories" (COCO instances format)')
    _check_coco_categories(ds, data['categories'], ann)
    from .file_checks import image_problem
    img_dir = _join(root, (ds.get('data_prefix') or {}).get('img', ''))
    problems: List[str] = []
    images = []
    id_count: Dict[int, int] = {}
    for img in data['images']:
        if isinstance(img, dict) and isinstance(img.get('id'), int):
            id_count[img['id']] = id_count.get(img['id'], 0) + 1
    for i, img in enumerate(data['images']):
        name = img.get('file_name') if isinstance(img, dict) else None
        if not isinstance(img, dict) or not isinstance(img.get('id'), int):
            problems.append(f'{ann}: images[{i}] has no integer "id"')
        elif id_count[img['id']] > 1:  # whose boxes are whose cannot be told: drop them all
            problems.append(f'{ann}: images[{i}] ({name}) shares image id {img["id"]} with '
                            f'{id_count[img["id"]] - 1} other image(s); ids must be unique')
        elif not isinstance(name, str) or not osp.isfile(osp.join(img_dir or '', name)):
            problems.append(f'{ann}: images[{i}] file {osp.join(img_dir or "", str(name))} '
                            'not found')
        elif (unreadable := image_problem(osp.join(img_dir or '', name))) is not None:
            problems.append(f'{ann}: images[{i}] {unreadable}')
        else:
            images.append(img)
    all_ids = {img['id'] for img in data['images']
               if isinstance(img, dict) and isinstance(img.get('id'), int)}
    kept_ids = {img['id'] for img in images}
    cat_ids = {c.get('id') for c in data['categories'] if isinstance(c, dict)}
    sizes = {img['id']: (img.get('width'), img.get('height')) for img in data['images']
             if isinstance(img, dict) and isinstance(img.get('id'), int)}
    anns = []
    for i, entry in enumerate(data['annotations']):
        why = _bad_coco_annotation(entry, all_ids, cat_ids, sizes)
        if why is not None:
            problems.append(f'{ann}: annotations[{i}] {why}')
        elif entry['image_id'] in kept_ids:  # entries of a skipped image go with it
            anns.append(entry)
    cleaned = dict(data, images=images, annotations=anns)
    return cleaned, problems, ann


def _check_coco_categories(ds: dict, categories: list, ann: str) -> None:
    """Refuse categories that would silently relabel or drop annotations.

    mmdet's ``CocoDataset`` keeps the categories whose *name* is in its classes, in the json's
    order, and numbers them 0, 1, ...: a category named differently from its class is dropped
    with all its annotations (and the later classes shift), a category id given twice maps to
    a label past the last class, and another order gives boxes the wrong class names. None of
    this can be fixed by skipping entries, so it is an error in both ``--on-bad-annotation``
    modes.
    """
    from .class_names import COCO_CATEGORIES
    classes, chosen = _classes(ds, [name for _, name, _ in COCO_CATEGORIES])
    seen_ids: Dict[Any, int] = {}
    seen_names: Dict[Any, int] = {}
    order = []
    for i, cat in enumerate(categories):
        if not isinstance(cat, dict) or not isinstance(cat.get('id'), int) \
                or not isinstance(cat.get('name'), str):
            raise ValueError(f'{ann}: categories[{i}] must be an object with an integer "id" '
                             f'and a string "name", got {cat!r}')
        if cat['id'] in seen_ids:
            raise ValueError(f'{ann}: categories[{i}] ({cat["name"]!r}) repeats the id '
                             f'{cat["id"]} of categories[{seen_ids[cat["id"]]}]; mmdet would '
                             'give its annotations a label past the last class')
        if cat['name'] in seen_names:
            raise ValueError(f'{ann}: categories[{i}] repeats the name {cat["name"]!r} of '
                             f'categories[{seen_names[cat["name"]]}]')
        seen_ids[cat['id']], seen_names[cat['name']] = i, i
        if cat['name'] in classes:
            order.append(cat['name'])
        elif not chosen:
            raise ValueError(f'{ann}: categories[{i}] name {cat["name"]!r} (id {cat["id"]}) is '
                             f'not one of the {len(classes)} dataset classes; mmdet would drop '
                             'all its annotations. Rename it, or set the classes with '
                             'metainfo=dict(classes=...)')
    missing = [c for c in classes if c not in seen_names]
    if missing:
        raise ValueError(f'{ann}: no category is named {_few(missing, 4)} (dataset classes '
                         f'without a category); mmdet would shift the labels of the later '
                         'classes. Check the category names against the class list')
    if order != list(classes):
        first = next(i for i, (a, b) in enumerate(zip(order, classes)) if a != b)
        raise ValueError(f'{ann}: the categories are not in the order of the dataset classes '
                         f'(class {first} is {classes[first]!r}, category {order[first]!r}); '
                         'mmdet numbers the categories in json order, so the boxes would get '
                         'the wrong class names')


#: Masks whose values are checked (decoded) per dataset; beyond this, an even spread of them.
MASK_VALUE_LIMIT = 3000


def _check_seg(ds: dict, log) -> Tuple[List[str], List[str], str]:
    """``(good sample names, problems, where)`` of an mmseg dataset config
    (``PascalVOCDataset``, ``COCOSemSegDataset``): every image readable (header only), every
    mask present, single-channel, of its image's size and (decoded, up to
    ``MASK_VALUE_LIMIT`` masks) holding only class indices or 255."""
    from .file_checks import image_problem, mask_problem
    from .layout import _read_ids, repeated_ids
    root = ds.get('data_root') or ''
    prefix = ds.get('data_prefix') or {}
    img_dir = _join(root, prefix.get('img_path', '')) or root
    seg_dir = _join(root, prefix.get('seg_map_path', '')) or root
    img_suffix = ds.get('img_suffix', '.jpg')
    seg_suffix = ds.get('seg_map_suffix', '.png')
    for what, path in (('img_path', img_dir), ('seg_map_path', seg_dir)):
        if not osp.isdir(path):
            raise FileNotFoundError(f'{ds.get("type")}: data_prefix {what} directory {path!r} '
                                    'does not exist (see data/README.md)')
    ann = _join(root, ds.get('ann_file'))
    repeats: List[str] = []
    if ann:
        names, repeats = repeated_ids(_read_ids(Path(ann)), ann)
        where = ann
    else:  # mmseg lists the image directory (recursively)
        names = sorted(osp.relpath(osp.join(d, f), img_dir)[:-len(img_suffix)]
                       for d, _, files in os.walk(img_dir) for f in files
                       if f.endswith(img_suffix))
        where = img_dir
    classes = (ds.get('metainfo') or {}).get('classes')
    num_classes = len(classes) if classes else None
    if num_classes is None and ds.get('type') == 'PascalVOCDataset':
        num_classes = 21
    elif num_classes is None and ds.get('type') == 'COCOSemSegDataset':
        from .coco_semseg import semseg_classes
        num_classes = len(semseg_classes(ds.get('classes_variant', 'coco80')))
    step = max(1, -(-len(names) // MASK_VALUE_LIMIT))
    if step > 1:
        log(f'{where}: mask values checked on every {step}th of {len(names)} masks (all masks '
            'are checked for presence, mode and size)', logger='current')
    good, problems = [], repeats
    for n, name in enumerate(names):
        img = osp.join(img_dir, name + img_suffix)
        why = image_problem(img) or mask_problem(
            osp.join(seg_dir, name + seg_suffix), img,
            num_classes if n % step == 0 else None, bool(ds.get('reduce_zero_label', False)))
        if why:
            problems.append(f'{why} (sample {name!r} of {where})')
        else:
            good.append(name)
    return good, problems, where


def check_datasets(cfg, loaders: Sequence[str] = _LOADERS, on_bad_annotation: str = 'fail',
                   log=print_log) -> Dict[str, int]:
    """Check the data a config reads before anything is built.

    * every dataset's ``data_root`` and ``ann_file`` exist (named in the error);
    * mmdet ``VOCDataset``: the image set lists ids, and each id has a well-formed XML with
      the fields mmdet reads (finite box values, ``difficult`` 0 / 1, object names among the
      dataset classes) and a readable image;
    * mmdet ``CocoDataset``: the JSON parses, has the instance lists, its categories match
      the dataset classes (names, order, unique ids; an error in both modes), image ids are
      unique, each image exists and is readable, and each annotation has an integer id /
      image_id / category_id (known ones) and a 4-number bbox;
    * mmseg ``PascalVOCDataset`` / ``COCOSemSegDataset``: each image is readable and its mask
      exists, has one channel and the image's size, and holds only class indices or 255
      (values decoded for up to ``MASK_VALUE_LIMIT`` masks per dataset).

    Images are checked from their first and last bytes only (empty, unknown format, JPEG /
    PNG end marker missing), not decoded.

    Args:
        cfg (Config): The config; changed in place with ``on_bad_annotation='skip'``.
        loaders (Sequence[str]): Dataloader entries to check.
        on_bad_annotation (str): ``'fail'``: raise on the first file with problems, listing
            them; ``'skip'``: write a copy without the bad images / entries to
            ``<work_dir>/checked_annotations/`` and point the config (and a CocoMetric reading
            the same file) at it, logging how many were skipped.
        log (callable): Where the skip summary goes.

    Returns:
        dict[str, int]: Skipped entries per annotation file (empty when all were good).

    Raises:
        FileNotFoundError: A data root or annotation file is missing.
        ValueError: Malformed annotations (``'fail'``), an unreadable file, or nothing left.
    """
    if on_bad_annotation not in ('fail', 'skip'):
        raise ValueError(f"--on-bad-annotation must be 'fail' or 'skip', got "
                         f'{on_bad_annotation!r}')
    skipped: Dict[str, int] = {}
    redirects: Dict[str, str] = {}
    for loader in loaders:
        if not isinstance(cfg.get(loader), dict) or 'dataset' not in cfg[loader]:
            continue
        for ds in _leaf_datasets(cfg[loader]['dataset']):
            where = f'{loader}.dataset ({ds.get("type")})'
            root = ds.get('data_root')
            if any('://' in str(ds.get(k, '')) for k in ('data_root', 'ann_file')):
                continue  # a remote backend (s3://, ...): read by mmengine's fileio, not here
            if root and not osp.isdir(root):
                raise FileNotFoundError(f'{where}: data_root {root!r} does not exist or is not '
                                        'a directory (see data/README.md for the layouts)')
            ann = _join(root, ds.get('ann_file'))
            ann = osp.normpath(ann) if ann else ann
            if ann and not osp.isfile(ann):
                raise FileNotFoundError(f'{where}: ann_file {ann!r} does not exist')
            if ann in redirects:  # the same file, already checked and cleaned for another loader
                ds['ann_file'] = redirects[ann]
                continue
            if ds.get('type') == 'VOCDataset' and ann:
                good, problems = _check_voc(ds)
                new = _handle(cfg, where, ann, problems, on_bad_annotation, bool(good),
                              '\n'.join(good) + '\n', log)
            elif ds.get('type') == 'CocoDataset' and ann:
                cleaned, problems, _ = _check_coco(ds)
                new = _handle(cfg, where, ann, problems, on_bad_annotation,
                              bool(cleaned['images']), json.dumps(cleaned), log)
            elif ds.get('type') in _SEG_TYPES:
                good, problems, source = _check_seg(ds, log)
                key = ann or f'{source}:{ds.get("data_prefix")}'
                if key in redirects:
                    ds['ann_file'] = redirects[key]
                    continue
                new = _handle(cfg, where, source, problems, on_bad_annotation, bool(good),
                              '\n'.join(good) + '\n', log,
                              None if ann else 'seg_' + osp.basename(source) + '.txt')
                if new is not None:
                    skipped[source] = len(problems)
                    redirects[key] = new
                    ds['ann_file'] = new
                continue
            else:
                continue
            if new is not None:
                skipped[ann] = len(problems)
                redirects[ann] = new
                ds['ann_file'] = new
    for key in ('val_evaluator', 'test_evaluator'):
        for ev in (cfg.get(key) if isinstance(cfg.get(key), list) else [cfg.get(key)]):
            if isinstance(ev, dict) and isinstance(ev.get('ann_file'), str) and \
                    osp.normpath(ev['ann_file']) in redirects:
                ev['ann_file'] = redirects[osp.normpath(ev['ann_file'])]
    return skipped


_SEG_TYPES = ('PascalVOCDataset', 'COCOSemSegDataset')


def _handle(cfg, where: str, ann: str, problems: List[str], mode: str, anything_left: bool,
            content: str, log, out_name: Optional[str] = None) -> Optional[str]:
    """Raise, or write the cleaned annotation file and return its path (None: all good)."""
    if not anything_left:
        raise ValueError(f'{where}: {ann} leaves no usable image' +
                         (f' ({len(problems)} problems, first: {problems[0]})' if problems
                          else ' (empty dataset)'))
    if not problems:
        return None
    if mode == 'fail':
        raise ValueError(f'{where}: {len(problems)} malformed annotation(s) in {ann}; first: '
                         f'{_few(problems, 3)}. Fix them, or pass --on-bad-annotation skip to '
                         'train without them.')
    out = osp.join(osp.abspath(cfg.work_dir), 'checked_annotations',
                   out_name or osp.basename(osp.dirname(ann)) + '_' + osp.basename(ann))
    atomic_write(out, content)
    log(f'{where}: skipped {len(problems)} malformed annotation(s) of {ann} '
        f'(first: {problems[0]}); training reads {out}', logger='current', level=30)
    return out


def _leaf_built(dataset) -> Iterator[Any]:
    """The datasets inside built dataset wrappers (Concat / Repeat / ClassBalanced...)."""
    inner = getattr(dataset, 'datasets', None)
    if inner is None and hasattr(dataset, 'dataset'):
        inner = [dataset.dataset]
    if inner is None:
        yield dataset
        return
    for item in inner:
        yield from _leaf_built(item)


def check_not_empty(runner, loaders: Sequence[str] = ('train_dataloader', )) -> None:
    """Build the runner's loaders now and refuse an empty dataset (mmengine would train on
    nothing, or fail later with an unrelated message: a ZeroDivisionError in the metric of an
    empty test set), and an ``indices=N`` larger than its dataset (mmengine takes the first N
    and silently uses every sample when there are fewer)."""
    for name in loaders:
        loop = {'train_dataloader': 'train_loop', 'val_dataloader': 'val_loop',
                'test_dataloader': 'test_loop'}[name]
        built = getattr(runner, loop) if runner.cfg.get(name) else None
        if built is None or not hasattr(built, 'dataloader'):
            continue  # no such loop (a run without validation)
        dataset = built.dataloader.dataset
        cfg = runner.cfg.get(name, {}).get('dataset', {})
        where = [f'{k}={d.get(k)!r}' for d in _leaf_datasets(cfg)
                 for k in ('type', 'data_root', 'ann_file', 'split') if d.get(k)]
        if len(dataset) == 0:
            raise ValueError(f'{name}: the dataset is empty ({", ".join(where)}); check the '
                             'paths, the image-set / annotation files and filter_cfg')
        for leaf in _leaf_built(dataset):
            wanted = getattr(leaf, '_indices', None)
            if isinstance(wanted, int) and not isinstance(wanted, bool) and \
                    len(leaf) < wanted:
                raise ValueError(f'{name}: indices={wanted} asks for the first {wanted} samples, '
                                 f'but the dataset has only {len(leaf)} ({", ".join(where)}); '
                                 f'lower indices to at most {len(leaf)} or remove it')
