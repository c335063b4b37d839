"""Polygon shapes, a pixel-centre rasterizer and textured backgrounds for the synthetic data.

Every object of the synthetic world is one simple polygon, so the same vertices give the
COCO ``segmentation`` entry, the box and the mask (pixels whose centre lies inside).
"""
from typing import List, Sequence, Tuple

import numpy as np
from PIL import Image

#: The shape kinds drawn by the generator, in a fixed order.
SHAPES: Tuple[str, ...] = ('ellipse', 'rectangle', 'triangle', 'cross', 'star')


def shape_polygon(kind: str, cx: float, cy: float, radius: float, angle: float,
                  aspect: float = 1.0) -> np.ndarray:
    """Vertices of a shape centred at ``(cx, cy)``.

    Args:
        kind (str): One of :data:`SHAPES`.
        cx (float): Centre x in pixels (pixel ``i`` spans ``[i, i + 1)``).
        cy (float): Centre y in pixels.
        radius (float): Half-size of the shape along its first axis, in pixels.
        angle (float): Rotation in radians.
        aspect (float): Ratio of the second half-axis to the first (ellipse, rectangle).

    Returns:
        np.ndarray: ``N x 2`` float array of (x, y) vertices, counter-clockwise in image
        coordinates.
    """
    if kind == 'ellipse':
        t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        pts = np.stack([radius * np.cos(t), aspect * radius * np.sin(t)], axis=1)
    elif kind == 'rectangle':
        a, b = radius, aspect * radius
        pts = np.array([[-a, -b], [a, -b], [a, b], [-a, b]], dtype=np.float64)
    elif kind == 'triangle':
        t = np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        pts = np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)
    elif kind == 'cross':
        a, w = radius, 0.35 * radius
        pts = np.array([[w, -a], [w, -w], [a, -w], [a, w], [w, w], [w, a], [-w, a], [-w, w],
                        [-a, w], [-a, -w], [-w, -w], [-w, -a]], dtype=np.float64)
    elif kind == 'star':
        t = -np.pi / 2 + np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, radius, 0.45 * radius)
        pts = np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
    else:
        raise ValueError(f'unknown shape kind {kind!r}; expected one of {SHAPES}')
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    return pts @ rot.T + np.array([cx, cy])


def rasterize_polygon(poly: np.ndarray, height: int, width: int) -> np.ndarray:
    """Boolean mask of the pixels whose centre lies inside a polygon (even-odd rule).

    Args:
        poly (np.ndarray): ``N x 2`` (x, y) vertices, ``N >= 3``.
        height (int): Mask height.
        width (int): Mask width.

    Returns:
        np.ndarray: ``height x width`` bool array.
    """
    poly = np.asarray(poly, dtype=np.float64)
    ys = np.arange(height, dtype=np.float64)[:, None] + 0.5
    xs = np.arange(width, dtype=np.float64)[None, :] + 0.5
    inside = np.zeros((height, width), dtype=bool)
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    for ax, ay, bx, by in zip(x0, y0, x1, y1):
        if ay == by:
            continue  # a horizontal edge never crosses a horizontal ray
        crosses_row = (ay > ys) != (by > ys)  # H x 1
        x_at_row = ax + (ys - ay) * (bx - ax) / (by - ay)  # H x 1
        inside ^= crosses_row & (xs < x_at_row)
    return inside


def textured_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A muted, smoothly varying colour field plus per-pixel noise.

    Args:
        rng (np.random.Generator): Source of randomness.
        height (int): Image height.
        width (int): Image width.

    Returns:
        np.ndarray: ``height x width x 3`` float array in [0, 255].
    """
    base = rng.uniform(80, 160, size=3)
    luminance = rng.normal(0, 25, size=(5, 5, 1))
    chroma = rng.normal(0, 8, size=(5, 5, 3))
    coarse = base + luminance + chroma
    coarse = np.clip(coarse, 0, 255).astype(np.uint8)
    smooth = np.asarray(
        Image.fromarray(coarse).resize((width, height), Image.BICUBIC), dtype=np.float64)
    return smooth + rng.normal(0, 10, size=(height, width, 3))


def paint(image: np.ndarray, mask: np.ndarray, colour: Sequence[float],
          rng: np.random.Generator, noise: float = 8.0) -> None:
    """Fill the masked pixels of ``image`` (in place) with a noisy colour.

    Args:
        image (np.ndarray): ``H x W x 3`` float image.
        mask (np.ndarray): ``H x W`` bool mask.
        colour (Sequence[float]): RGB colour.
        rng (np.random.Generator): Source of randomness.
        noise (float): Standard deviation of the per-pixel noise.
    """
    n = int(mask.sum())
    image[mask] = np.asarray(colour, dtype=np.float64) + rng.normal(0, noise, size=(n, 3))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Clip a float image to [0, 255] and round it to uint8."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def polygon_to_coco(poly: np.ndarray) -> List[float]:
    """Flatten vertices into a COCO polygon ``[x1, y1, x2, y2, ...]`` rounded to 2 decimals."""
    return [round(float(v), 2) for v in np.asarray(poly).reshape(-1)]
