"""Box geometry the up-front annotation checks refuse
(kd_transfer.datasets.config_checks.check_datasets).

Only what is really broken, judged by what mmdet does with the box:

* COCO ``bbox`` ``[x, y, w, h]``: a negative width or height (mmdet's ``CocoDataset`` drops
  every box with ``w < 1`` or ``h < 1`` without a word), or a box that does not overlap its
  image at all (dropped likewise). Zero-sized boxes are *not* refused: real COCO train2017
  has two (height 0.0; annotation ids 918 and 2206849) and mmdet drops them, as it drops every
  box under one pixel; crowd boxes are ordinary boxes here.
* VOC ``bndbox`` (1-based pixel coordinates, ``xmax`` may equal the width): a negative
  coordinate, ``xmax < xmin`` or ``ymax < ymin`` (mmdet's ``XMLDataset`` keeps such a box as
  it is, so the detector trains on an inverted target), or a box entirely outside the image.
  A box that only crosses the border is legal: mmdet's ``Resize`` clips it
  (``clip_object_border=True``).
"""
from typing import Optional, Sequence


def coco_box_problem(bbox: Sequence[float], width=None, height=None) -> Optional[str]:
    """Why a COCO ``bbox`` (4 finite numbers) is broken, or None.

    Args:
        bbox: ``[x, y, w, h]``.
        width, height: The image's size (from its ``images`` entry), when known.
    """
    x, y, w, h = bbox
    if w < 0 or h < 0:
        return (f'"bbox" {list(bbox)} has a negative width or height ([x, y, w, h] expected; '
                'mmdet would drop it silently)')
    if _size_known(width, height) and (x >= width or y >= height or x + w <= 0 or y + h <= 0):
        return (f'"bbox" {list(bbox)} lies entirely outside its {width} x {height} image '
                '(mmdet would drop it silently)')
    return None


def voc_box_problem(xmin: float, ymin: float, xmax: float, ymax: float, width=None,
                    height=None) -> Optional[str]:
    """Why a VOC ``bndbox`` is broken, or None (coordinates 1-based, as in the XML)."""
    box = f'<bndbox> ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g})'
    if min(xmin, ymin, xmax, ymax) < 0:
        return f'{box} has a negative coordinate'
    if xmax < xmin or ymax < ymin:
        return (f'{box} is inverted (xmax < xmin or ymax < ymin); mmdet would train on it as '
                'it is')
    if _size_known(width, height) and (xmin > width or ymin > height):
        return f'{box} lies entirely outside the {width:g} x {height:g} image'
    return None


def _size_known(width, height) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
               for v in (width, height))


__all__ = ['coco_box_problem', 'voc_box_problem']
