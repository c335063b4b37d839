"""Cheap checks of image and mask files, run before training.

OpenCV (mmcv's default image backend) fails on an empty file with an assertion that names
no file, and a truncated or garbage JPEG only fails (or is silently half-grey) at the
iteration that reads it. A segmentation mask that is missing, RGB, of another size than its
image, or holds labels outside the classes crashes training or silently lowers the mIoU.

* :func:`image_problem` reads only the first bytes and the last 256 bytes of an image file
  (no decode): empty, unknown format, or a JPEG / PNG without its end marker (truncated).
* :func:`mask_problem` opens a mask and its image header; with ``num_classes`` it decodes
  the (small, single-channel) mask to check its values.
"""
import os
from typing import Optional, Tuple

import numpy as np
from PIL import Image, UnidentifiedImageError

IGNORE_INDEX = 255
_JPEG_START, _JPEG_END = b'\xff\xd8\xff', b'\xff\xd9'
_PNG_START, _PNG_END = b'\x89PNG\r\n\x1a\n', b'IEND'
_TAIL = 256  # trailing bytes searched for the end marker (tolerates a little padding)


def image_problem(path: str) -> Optional[str]:
    """What makes ``path`` unreadable as an image, or None.

    Only the file's first bytes and its last 256 bytes are read: an empty file, a file that
    is neither JPEG nor PNG nor another format Pillow recognises from its header, and a JPEG
    / PNG whose end marker is missing (a truncated download) are reported.

    Args:
        path (str): The image file.

    Returns:
        str | None: A message naming the file, or None when it looks readable.
    """
    try:
        size = os.path.getsize(path)
        with open(path, 'rb') as f:
            head = f.read(8)
            f.seek(max(0, size - _TAIL))
            tail = f.read()
    except FileNotFoundError:
        return f'image {path} not found'
    except OSError as err:
        return f'image {path} cannot be read ({err})'
    if size == 0:
        return f'image {path} is empty (0 bytes)'
    if head.startswith(_JPEG_START):
        if _JPEG_END not in tail:
            return (f'image {path} is a truncated JPEG (no end-of-image marker in its last '
                    f'{_TAIL} bytes; {size} bytes)')
        return None
    if head.startswith(_PNG_START):
        if _PNG_END not in tail:
            return f'image {path} is a truncated PNG (no IEND chunk; {size} bytes)'
        return None
    try:
        with Image.open(path) as img:
            img.size  # noqa: B018 (the header is parsed on open)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        return f'image {path} is not a readable image ({type(err).__name__}: {err})'
    return None


def _header(path: str) -> Tuple[str, Tuple[int, int]]:
    with Image.open(path) as img:
        return img.mode, img.size


def mask_problem(mask_path: str, image_path: Optional[str] = None,
                 num_classes: Optional[int] = None,
                 reduce_zero_label: bool = False) -> Optional[str]:
    """What is wrong with a segmentation mask (label PNG), or None.

    Args:
        mask_path (str): The mask file (``SegmentationClass/<id>.png`` or a converted COCO
            mask).
        image_path (str, optional): Its image; the sizes must agree (header only).
        num_classes (int, optional): Classes of the dataset (background included); when
            given, the mask is decoded and every value must be a class index or 255.
        reduce_zero_label (bool): The dataset's ``reduce_zero_label`` (mmseg then reads
            label ``v`` as ``v - 1`` and 0 as 255, so the file may hold 0..num_classes).

    Returns:
        str | None: A message naming the file, or None.
    """
    if not os.path.isfile(mask_path):
        return f'mask {mask_path} not found' + (f' (image {image_path})' if image_path else '')
    try:
        mode, size = _header(mask_path)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        return f'mask {mask_path} is not a readable image ({type(err).__name__}: {err})'
    if mode not in ('L', 'P', 'I', 'I;16', '1'):
        return (f'mask {mask_path} has mode {mode!r}: expected one label per pixel (a palette '
                '"P" or grey "L" PNG), not a colour image')
    if image_path is not None:
        try:
            _, image_size = _header(image_path)
        except (UnidentifiedImageError, OSError, ValueError) as err:
            return f'image {image_path} is not a readable image ({type(err).__name__}: {err})'
        if image_size != size:
            return (f'mask {mask_path} is {size[0]} x {size[1]} (width x height) but its image '
                    f'{image_path} is {image_size[0]} x {image_size[1]}')
    if num_classes is not None:
        try:
            with Image.open(mask_path) as img:
                labels = np.asarray(img)
            values = (np.flatnonzero(np.bincount(labels.ravel(), minlength=256))
                      if labels.dtype == np.uint8 else np.unique(labels))  # bincount: O(pixels)
        except (OSError, ValueError) as err:
            return f'mask {mask_path} cannot be decoded ({type(err).__name__}: {err})'
        top = num_classes if reduce_zero_label else num_classes - 1
        bad = [int(v) for v in values if not (0 <= v <= top or v == IGNORE_INDEX)]
        if bad:
            return (f'mask {mask_path} holds label value(s) {bad[:8]} outside the '
                    f'{num_classes} classes (expected 0..{top}, or {IGNORE_INDEX} = ignore)')
    return None
