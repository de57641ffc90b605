"""Per-image pixel operations of the detection op family (Zoph et al. 2019).

What :class:`~dada_mm.transforms.zoph_augment.ZophDetectionAugment` applies; the op table
and its constants are :mod:`dada_mm.ops.detection_ops` ([TPU] there: TensorFlow
TPU ``autoaugment_utils.py``). Whole-image colour ops and warps reuse
:mod:`dada_mm.ops.image_ops`; only what the DADA ops lack is here: SolarizeAdd,
Cutout with absolute pixel sizes, BBox_Cutout, and applying an op inside boxes. Nothing
here draws random numbers: callers pass the uniforms.

Pixel regions of a box
----------------------
Boxes are mmdet's ``(x1, y1, x2, y2)`` in its continuous pixel frame: pixel ``(i, j)``
(row, column) is the unit square ``[j, j + 1) x [i, i + 1)`` with its centre at ``(j +
0.5, i + 0.5)``, so a box ``(0, 0, W, H)`` is the whole image. A box covers the pixels
whose *centres* lie in ``[x1, x2) x [y1, y2)``: columns ``ceil(x1 - 0.5) ..
ceil(x2 - 0.5) - 1`` and rows likewise, clipped to the image (:func:`box_pixel_region`).
For integer coordinates that is the half-open box ``image[y1:y2, x1:x2]``: a box ``(2, 3,
6, 8)`` covers columns 2..5 and rows 3..7. A box containing no pixel centre (zero area, or
thinner than a pixel between two centres) covers nothing, and a box-only op leaves it
unchanged.

[TPU] works on normalised boxes and takes ``int(size * coord)`` as *inclusive* pixel
indices (``_apply_bbox_augmentation``: ``image[min_y:max_y + 1, min_x:max_x + 1]``); on
mmdet's coordinates that convention reaches one row and one column past the box's bottom
and right edges, and is not used. ``BBox_Cutout`` reads the box's extent (the range of its
centre and the size of its square) by the same rule, with at least one row and column
(:func:`bbox_cutout_region`).

Overlapping boxes
-----------------
A box-only op visits the boxes in a random order ([TPU] ``tf.random.shuffle``) and each
visit reads the image as the previous visits left it: a pixel inside two boxes is changed
by every applied box that contains it, in visiting order (a flipped box flipped again by
an overlapping box, a box translated over the part another box already translated, ...).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from . import cv_kernels, image_ops
from .detection_ops import SOLARIZE_ADD_THRESHOLD, detection_inverse_matrix

__all__ = ['solarize_add', 'cutout_square', 'box_pixel_region', 'bbox_cutout_region',
           'crop_op', 'apply_in_boxes', 'colour_op', 'fill_region']

Fill = Union[int, Tuple[int, ...]]
Region = Tuple[int, int, int, int]  # y0, y1, x0, x1: rows [y0, y1), columns [x0, x1)


def solarize_add(img: np.ndarray, addition: int,
                 threshold: int = SOLARIZE_ADD_THRESHOLD) -> np.ndarray:
    """[TPU] ``solarize_add``: pixels ``< threshold`` get ``+ addition`` (clipped to
    [0, 255]); the others are kept."""
    values = np.arange(256, dtype=np.int64)
    lut = np.where(values < threshold, np.clip(values + int(addition), 0, 255), values)
    return cv_kernels.apply_lut(np.asarray(img), lut.astype(np.uint8))


def _square(height: int, width: int, pad: int, cy: int, cx: int) -> Region:
    """[TPU] ``cutout``: rows ``[max(0, cy - pad), min(H, cy + pad))``, columns alike."""
    return (max(0, cy - pad), min(height, cy + pad), max(0, cx - pad), min(width, cx + pad))


def fill_region(img: np.ndarray, region: Region, fill: Fill) -> np.ndarray:
    """Fill ``region`` of ``img`` in place (``fill`` in the image's channel order; a
    tuple on a one-channel image uses its first value)."""
    y0, y1, x0, x1 = region
    if y1 > y0 and x1 > x0:
        if not np.isscalar(fill):
            fill = np.asarray(fill, np.uint8)
            fill = fill[0] if img.ndim == 2 else fill[:img.shape[2]]
        img[y0:y1, x0:x1] = fill
    return img


def cutout_square(img: np.ndarray, pad: int, center_u: Tuple[float, float],
                  fill: Fill) -> np.ndarray:
    """[TPU] ``cutout(image, pad_size, replace)``: a ``2 pad x 2 pad`` square (clipped to
    the image) at the integer centre ``(int(u_y H), int(u_x W))``, filled with ``fill``.
    ``center_u = (u_y, u_x)`` in [0, 1). Returns a new array."""
    out = np.array(img, copy=True)
    h, w = out.shape[:2]
    cy, cx = int(center_u[0] * h), int(center_u[1] * w)
    return fill_region(out, _square(h, w, int(pad), cy, cx), fill)


def _pixel_span(lo: float, hi: float) -> Tuple[int, int]:
    """Pixel indices ``[first, end)`` whose centres ``k + 0.5`` lie in ``[lo, hi)``."""
    return math.ceil(lo - 0.5), math.ceil(hi - 0.5)


def box_pixel_region(box: Sequence[float], height: int, width: int) -> Optional[Region]:
    """Pixels a box-only op acts on (the module docstring's rule: centres in the box),
    as ``(y0, y1, x0, x1)`` half-open and clipped to the image; None if there are none
    (a box containing no pixel centre, or one outside the image)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    x0, xe = _pixel_span(x1, x2)
    y0, ye = _pixel_span(y1, y2)
    x0, y0 = max(0, x0), max(0, y0)
    xe, ye = min(width, xe), min(height, ye)
    if ye <= y0 or xe <= x0:
        return None
    return (y0, ye, x0, xe)


def bbox_cutout_region(box: Sequence[float], pad_fraction: float,
                       center_u: Tuple[float, float], height: int, width: int) -> Region:
    """[TPU] ``_cutout_inside_bbox`` on the box's pixel rows ``y0 .. y0 + box_h - 1`` and
    columns ``x0 .. x0 + box_w - 1`` (the module docstring's rule, not clipped at the
    bottom / right; at least one of each, as [TPU] gives a zero-area box one pixel):
    ``pad_h = int(pad_fraction * box_h / 2)``, an integer centre ``y0 + int(u_y box_h)``
    uniform over those rows, then the square of :func:`cutout_square` (``2 pad_h x 2
    pad_w``, clipped to the image)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    min_x, end_x = _pixel_span(x1, x2)
    min_y, end_y = _pixel_span(y1, y2)
    min_x, min_y = max(0, min_x), max(0, min_y)
    box_h, box_w = max(1, end_y - min_y), max(1, end_x - min_x)
    pad_h = int(pad_fraction * (box_h / 2))
    pad_w = int(pad_fraction * (box_w / 2))
    cy = min_y + min(int(center_u[0] * box_h), box_h - 1)
    cx = min_x + min(int(center_u[1] * box_w), box_w - 1)
    y0, y1_, _, _ = _square(height, width, pad_h, cy, cx)
    _, _, x0, x1_ = _square(height, width, pad_w, cy, cx)
    return (y0, max(y0, y1_), x0, max(x0, x1_))


def colour_op(img: np.ndarray, base: str, value: float, channel_order: str) -> np.ndarray:
    """A whole-image colour op of the family through :mod:`image_ops` (PIL semantics).

    Contrast is PIL's (blend with the mean grey level), not [TPU]'s, whose degenerate
    image is ``pixel count / 256`` clipped to 255 (see the table in
    :mod:`~dada_mm.ops.detection_ops`)."""
    if base == 'AutoContrast':
        return image_ops.auto_contrast(img)
    if base == 'Equalize':
        return image_ops.equalize(img)
    if base == 'Posterize':
        # [TPU] posterize shifts right then left by 8 - bits; TensorFlow's shift kernels
        # clamp a uint8 shift to 7 (cwise_ops.h right_shift_op), so 0 bits keeps 1 bit
        return image_ops.posterize(img, max(1, int(value)))
    if base == 'Solarize':
        return image_ops.solarize(img, value)
    if base == 'SolarizeAdd':
        return solarize_add(img, int(value))
    if base in ('Color', 'Contrast'):
        fn = image_ops.color if base == 'Color' else image_ops.contrast
        return fn(img, value, channel_order=channel_order)
    if base == 'Brightness':
        return image_ops.brightness(img, value)
    if base == 'Sharpness':
        return image_ops.sharpness(img, value)
    raise KeyError(f'{base!r} is not a colour op of the detection family')


def crop_op(crop: np.ndarray, base: str, value: float, center_u: Tuple[float, float],
            fill: Fill, interpolation: str = 'nearest') -> np.ndarray:
    """The op a box-only op applies to one box's crop, in the crop's own frame: warps
    about the crop's centre (Rotate) or top-left corner (shears), translations in pixels,
    fill ``fill`` where the warp reads outside the crop ([TPU] warps the crop alone)."""
    if base in ('Rotate', 'ShearX', 'ShearY', 'TranslateX', 'TranslateY'):
        h, w = crop.shape[:2]
        return image_ops.warp_affine(crop, detection_inverse_matrix(base, value, h, w),
                                     fill=fill, interpolation=interpolation)
    if base == 'Flip':
        return crop[:, ::-1]
    if base == 'Solarize':
        return image_ops.solarize(crop, value)
    if base == 'Equalize':
        return image_ops.equalize(crop)
    if base == 'Cutout':
        return cutout_square(crop, int(value), center_u, fill)
    raise KeyError(f'{base!r} is not a box-only base op')


def apply_in_boxes(img: np.ndarray, boxes: np.ndarray, base: str, value: float,
                   order: Sequence[int], applied: Sequence[bool],
                   centers_u: Optional[np.ndarray] = None, fill: Fill = 128,
                   interpolation: str = 'nearest') -> Tuple[np.ndarray, int]:
    """Apply ``base`` inside boxes, visiting ``boxes[order[i]]`` when ``applied[i]``.

    Each visit crops the box's pixel region (:func:`box_pixel_region`) from the current
    image, applies :func:`crop_op` and pastes the result back, so overlapping boxes
    compose in visiting order. ``centers_u[i]`` is the Cutout centre of visit ``i``.
    Returns the new image and the number of boxes changed.
    """
    out = np.array(img, copy=True)
    h, w = out.shape[:2]
    changed = 0
    for i, k in enumerate(order):
        if not applied[i]:
            continue
        region = box_pixel_region(boxes[k], h, w)
        if region is None:
            continue
        y0, y1, x0, x1 = region
        center = (0.5, 0.5) if centers_u is None else tuple(centers_u[i])
        out[y0:y1, x0:x1] = crop_op(out[y0:y1, x0:x1].copy(), base, value, center, fill,
                                    interpolation)
        changed += 1
    return out, changed
