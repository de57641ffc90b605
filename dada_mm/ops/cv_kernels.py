"""The OpenCV speed layer under the per-image ops (:mod:`dada_mm.ops.image_ops`).

Nothing here knows the op table (only PIL's blend formula, ``ops.blend``, comes from
:mod:`dada_mm.ops.table`): these are the kernels the ops are written with, each
reproducing a PIL computation bit for bit (or, where stated, within one grey level) at
several times PIL's speed on the uint8 HxW / HxWxC arrays OpenMMLab pipelines carry:

* input checks and shape helpers (cv2 wants contiguous HxW or HxWxC, never HxWx1);
* LUTs: one table for every channel (:func:`apply_lut`), bytes looked up in pairs on
  large planes (:func:`lut_into`), per-channel tables on split planes
  (:func:`apply_channel_luts`), and per-channel histograms that PIL counts for large
  planes through a zero-copy view (:func:`channel_histograms`);
* PIL's ``Image.blend`` as a LUT for a constant degenerate image (:func:`blend_lut`,
  bit-exact) or as ``cv2.addWeighted`` for two images (:func:`blend_images`: where PIL's
  float32 ``trunc(a + f * (b - a))`` lands just below an integer the two may differ by
  1, about 0.02% of values);
* :func:`warp_affine`: PIL's ``Image.transform(AFFINE)`` for an output -> input matrix
  in PIL's continuous pixel frame. Nearest warps follow one sampling rule for every array
  (:func:`nearest_source_indices`, float64 in numpy); OpenCV only gathers at the integer
  positions it gives (``cv2.remap`` with integer maps; whole-pixel translations by
  slicing), so an image and its masks or label maps read the same pixels whatever the
  OpenCV release. PIL accumulates its coordinates per pixel, so at an exact sampling tie
  (a source coordinate on a pixel boundary, e.g. rotations about the half-integer centre
  of an odd size) the two may read neighbouring pixels. Bilinear and bicubic warps are
  ``cv2.warpAffine``.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from PIL import Image

from .table import blend

__all__ = [
    'Fill', 'CV_INTERPOLATION_FLAGS', 'IDENTITY_LUT', 'PAIR_LUT_MIN_BYTES',
    'PIL_HIST_MIN_PIXELS',
    'check_u8', 'num_channels', 'as_cv', 'restore', 'fill_values', 'apply_lut',
    'lut_image', 'pair_tables', 'lut_into', 'split_planes', 'merge_planes',
    'channel_histograms', 'apply_channel_luts', 'blend_lut', 'blend_images',
    'nearest_source_indices', 'warp_affine',
]

Fill = Union[int, float, Sequence[Union[int, float]]]

CV_INTERPOLATION_FLAGS = {
    'nearest': cv2.INTER_NEAREST,
    'bilinear': cv2.INTER_LINEAR,
    'bicubic': cv2.INTER_CUBIC,
}
# dtypes cv2.warpAffine handles natively (any interpolation).
_CV_WARP_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)

IDENTITY_LUT = np.arange(256, dtype=np.uint8)
IDENTITY_LUT.flags.writeable = False
_IDENTITY_BYTES = IDENTITY_LUT.tobytes()
# LUTs look bytes up in pairs from this many bytes a plane on (below, building the
# 65536-entry table costs more than the pairing saves): lut_into, apply_channel_luts.
PAIR_LUT_MIN_BYTES = 1 << 17
# channel_histograms lets PIL count planes of at least this many pixels (below,
# converting PIL's lists of counts costs more than its faster counting saves).
PIL_HIST_MIN_PIXELS = 1 << 18
# cv2.addWeighted rounds to nearest; PIL's blend truncates. Shifting by -0.5 turns the
# rounding into a floor; the small extra margin keeps exact integers (a == b pixels) from
# being pulled down by float32 error in cv2's x*f + y*(1-f).
_FLOOR_BIAS = -0.5 + 1e-3


# --------------------------------------------------------------------------------------
# input checks and shapes
# --------------------------------------------------------------------------------------
def check_u8(img: np.ndarray) -> np.ndarray:
    """``img`` as an array if it is a non-empty uint8 HxW, HxWx1 or HxWx3 image."""
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise TypeError(f'expected a uint8 image, got dtype {img.dtype}')
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (1, 3))):
        raise ValueError(f'expected an HxW, HxWx1 or HxWx3 image, got shape {img.shape}')
    if img.size == 0:  # cv2 aborts the process on some empty inputs (e.g. minMaxLoc)
        raise ValueError(f'expected a non-empty image, got shape {img.shape}')
    return img


def num_channels(img: np.ndarray) -> int:
    """1 for an HxW image, else the last axis."""
    return 1 if img.ndim == 2 else img.shape[2]


def as_cv(img: np.ndarray) -> np.ndarray:
    """Contiguous array cv2 accepts (HxWx1 -> HxW view)."""
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    return np.ascontiguousarray(img)


def restore(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Give ``out`` (cv2's result) the shape of ``like``."""
    if out.shape != like.shape:
        out = out.reshape(like.shape)
    return out


def fill_values(fill: Fill, channels: int) -> Tuple[float, ...]:
    """Per-channel fill (an int broadcasts; a gray image takes the first value)."""
    if np.isscalar(fill):
        return (float(fill),) * channels
    vals = tuple(float(v) for v in fill)
    if len(vals) == 0:
        raise ValueError('fill must not be empty')
    if channels == 1 or len(vals) == 1:
        return (vals[0],) * channels
    if len(vals) != channels:
        raise ValueError(f'fill has {len(vals)} values for a {channels}-channel image')
    return vals


# --------------------------------------------------------------------------------------
# LUTs and histograms
# --------------------------------------------------------------------------------------
def apply_lut(img: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Apply one 256-entry uint8 LUT to every channel."""
    return restore(lut_image(as_cv(img), np.ascontiguousarray(lut, dtype=np.uint8)), img)


def lut_image(src: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """``lut`` applied to every byte of a contiguous image, into a fresh array."""
    out = np.empty_like(src)
    lut_into(src.reshape(-1), lut, out.reshape(-1))
    return out


def pair_tables(luts: Sequence[np.ndarray]) -> np.ndarray:
    """``(len(luts), 65536)`` uint16 tables: a byte pair (either byte order) -> its two
    values under one of ``luts``."""
    l16 = np.asarray(luts, dtype=np.uint16)
    return ((l16[:, :, None] << 8) | l16[:, None, :]).reshape(len(l16), -1)


def lut_into(src: np.ndarray, lut: np.ndarray, dst: np.ndarray) -> None:
    """``dst[:] = lut[src]`` for flat contiguous uint8 arrays of one size (may alias).

    cv2.LUT costs about a cycle per looked-up element, so on large arrays the bytes are
    looked up in pairs (uint16 view, 65536-entry table): ~1.6x faster on a 1333x800 plane
    even after building the table (~25 us, which is why small arrays use the byte table).
    """
    n = src.size
    m = n - (n & 1)
    if n >= PAIR_LUT_MIN_BYTES:
        src16, dst16 = src[:m].view(np.uint16), dst[:m].view(np.uint16)
        if src16.flags.aligned and dst16.flags.aligned:
            cv2.LUT(src16, pair_tables([lut])[0], dst=dst16)
            if m < n:
                dst[m] = lut[src[m]]
            return
    cv2.LUT(src, lut, dst=dst)


def split_planes(src: np.ndarray) -> np.ndarray:
    """Channel ``c`` of a contiguous HxWxC image in row ``c`` of a fresh ``(C, N)`` array.

    ``N`` is the pixel count rounded up to even (rows stay 2-byte aligned for the pair
    LUTs). One buffer: cv2.split's own C outputs are ~3x slower at COCO size (one fresh
    allocation each).
    """
    h, w, c = src.shape
    n = h * w
    planes = np.empty((c, n + (n & 1)), np.uint8)
    cv2.split(src, [planes[k, :n].reshape(h, w) for k in range(c)])
    return planes


def merge_planes(planes: np.ndarray, h: int, w: int) -> np.ndarray:
    """Interleave the rows of a :func:`split_planes` array back into a fresh HxWxC image."""
    return cv2.merge([p[:h * w].reshape(h, w) for p in planes])


def channel_histograms(planes: np.ndarray, n: int) -> np.ndarray:
    """``(C, 256)`` int64 histograms of the first ``n`` bytes of each row of ``planes``.

    Large planes are counted by PIL viewing them (no copy) as 4-byte RGBX pixels, one
    table per byte of a pixel, summed: 1.2-1.4x faster than cv2.calcHist's single table
    on photos and the benchmark images, 1.7x on very smooth ones, on par on pure noise.
    Small planes use cv2.calcHist, which avoids converting PIL's 1024-int lists.
    """
    c = planes.shape[0]
    if PIL_HIST_MIN_PIXELS <= n < (1 << 31):
        q = n // 4
        counts = []
        for plane in planes:
            view = Image.frombuffer('RGBX', (q, 1), plane, 'raw', 'RGBX', 0, 1)
            counts += view.histogram()
        hists = np.fromiter(counts, np.int64, 1024 * c).reshape(c, 4, 256).sum(axis=1)
        for k, plane in enumerate(planes):
            for v in plane[4 * q:n].tolist():  # the last n % 4 bytes
                hists[k, v] += 1
        return hists
    hists = np.empty((c, 256), np.int64)
    for k, plane in enumerate(planes):
        if n < (1 << 24):  # cv2.calcHist counts in float32 (exact below 2**24)
            hists[k] = cv2.calcHist([plane[:n]], [0], None, [256], [0, 256]).ravel()
        else:
            hists[k] = np.bincount(plane[:n], minlength=256)
    return hists


def apply_channel_luts(src: np.ndarray, luts: Sequence[np.ndarray],
                        planes: Optional[np.ndarray] = None) -> np.ndarray:
    """Apply ``luts[c]`` (256 uint8 each) to channel ``c`` of a contiguous cv image.

    ``planes`` is ``split_planes(src)`` if the caller already made it. cv2's multi-channel LUT
    is a scalar per-channel loop, so distinct tables run on split planes (in place) that
    are merged back; identity tables are skipped, and equal ones run on the interleaved
    buffer at once.
    """
    keys = [lut.tobytes() for lut in luts]  # (np.array_equal costs ~3 us a call)
    ident = [key == _IDENTITY_BYTES for key in keys]
    if all(ident):
        return src.copy()
    first = luts[0]
    if src.ndim == 2 or keys.count(keys[0]) == len(keys):
        return lut_image(src, first)
    if planes is None:
        planes = split_planes(src)
    todo = [k for k, skip in enumerate(ident) if not skip]
    if planes.shape[1] >= PAIR_LUT_MIN_BYTES:  # as in lut_into, tables built at once
        words = planes.view(np.uint16)  # rows have even length, the buffer is aligned
        for k, table in zip(todo, pair_tables([luts[k] for k in todo])):
            cv2.LUT(words[k], table, dst=words[k])
    else:
        for k in todo:
            cv2.LUT(planes[k], luts[k], dst=planes[k])
    return merge_planes(planes, src.shape[0], src.shape[1])


# --------------------------------------------------------------------------------------
# PIL's Image.blend
# --------------------------------------------------------------------------------------
def blend_lut(degenerate: float, factor: float) -> np.ndarray:
    """LUT of PIL's ``Image.blend(degenerate_const, img, factor)`` for every input value.

    PIL (ImagingBlend) evaluates ``in1 + alpha * (in2 - in1)`` in float32 (alpha is a C
    float), clips to [0, 255] and truncates toward zero.
    """
    alpha = np.float32(factor)
    x = np.arange(256, dtype=np.float32)
    d = np.float32(degenerate)
    v = blend(d, x, alpha)  # float32 throughout
    return np.clip(v, 0, 255).astype(np.uint8)  # values in [0, 255]: astype truncates


def blend_images(degenerate: np.ndarray, img: np.ndarray, factor: float) -> np.ndarray:
    """PIL ``Image.blend(degenerate, img, factor)`` (within 1 of PIL, see module doc)."""
    alpha = float(np.float32(factor))  # PIL passes alpha on as a C float
    if alpha == 1.0:  # PIL copies the image (e.g. level 0.5 gives 0.9999999999999999)
        return img.copy()
    if alpha == 0.0:
        return degenerate.copy()
    return cv2.addWeighted(img, alpha, degenerate, 1.0 - alpha, _FLOOR_BIAS)



# --------------------------------------------------------------------------------------
# affine warps
# --------------------------------------------------------------------------------------
def _as_affine(out_to_in) -> np.ndarray:
    m = np.asarray(out_to_in, dtype=np.float64)
    if m.shape == (3, 3):
        r0, r1, r2 = m[2].tolist()  # (np.allclose costs tens of us per call)
        if not (abs(r0) <= 1e-8 and abs(r1) <= 1e-8 and abs(r2 - 1.0) <= 1e-5 + 1e-8):
            raise ValueError('out_to_in must be affine (last row 0, 0, 1)')
        return m[:2].copy()
    if m.shape == (2, 3):
        return m.copy()
    raise ValueError(f'out_to_in must be 3x3 or 2x3, got shape {m.shape}')


def _translate_nearest(img: np.ndarray, sx: int, sy: int, fill_vals: Tuple[float, ...],
                       out_shape: Tuple[int, int]) -> np.ndarray:
    """out[i, j] = img[i + sy, j + sx] where inside, ``fill`` elsewhere."""
    h, w = img.shape[:2]
    oh, ow = out_shape
    i0, i1 = min(max(0, -sy), oh), max(min(oh, h - sy), 0)
    j0, j1 = min(max(0, -sx), ow), max(min(ow, w - sx), 0)
    channels = num_channels(img)
    if i0 < i1 and j0 < j1 and img.dtype.type in _CV_WARP_DTYPES and channels <= 4:
        # One pass: crop the part that stays visible and pad it with the fill colour.
        crop = np.ascontiguousarray(as_cv(img)[i0 + sy:i1 + sy, j0 + sx:j1 + sx])
        out = cv2.copyMakeBorder(crop, i0, oh - i1, j0, ow - j1, cv2.BORDER_CONSTANT,
                                 value=fill_vals)
        return out.reshape((oh, ow) + img.shape[2:])
    out = np.empty((oh, ow) + img.shape[2:], dtype=img.dtype)
    if img.ndim == 2:
        out[...] = np.asarray(fill_vals[0]).astype(img.dtype)
    else:
        out[...] = np.asarray(fill_vals).astype(img.dtype)
    if i0 < i1 and j0 < j1:
        out[i0:i1, j0:j1] = img[i0 + sy:i1 + sy, j0 + sx:j1 + sx]
    return out


def _cv_warp(src: np.ndarray, m_cv: np.ndarray, size: Tuple[int, int], flags: int,
             border) -> np.ndarray:
    return cv2.warpAffine(src, m_cv, size, flags=flags | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=border)


# Nearest warps follow ONE sampling rule, PIL's own (see nearest_source_indices), evaluated
# here in integer / float64 numpy for images, masks and label maps alike; OpenCV only
# gathers at the integer positions it gives (cv2.remap with integer maps; whole-pixel
# translations and x-shears by slicing), which no OpenCV release can round differently.
# The maps are built in row blocks of about this many pixels (bounded scratch memory).
_MAP_BLOCK_PIXELS = 1 << 16
# cv2.remap takes integer maps as int16 (x, y) pairs; larger images gather in numpy.
_INT16_MAP_MAX = 32766
# PIL's 16.16 fixed point holds source coordinates below this (its ``check_fixed``).
_FIXED_RANGE = 32768.0
_ONE = 1 << 16


def _fix(v: float) -> int:
    """PIL's ``FIX``: a double as 16.16 fixed point, rounded."""
    return int(math.floor(v * 65536.0 + 0.5))


def _separable(a: np.ndarray) -> bool:
    """No shear / rotation terms: PIL's ``ImagingScaleAffine`` (double per row / column)."""
    return a[0, 1] == 0.0 and a[1, 0] == 0.0


def _fixed_terms(a: np.ndarray, axis: int) -> Tuple[int, int, int]:
    """``(origin, per_row, per_col)`` of PIL's 16.16 source coordinate along ``axis``."""
    c_col, c_row, c0 = a[axis]
    return _fix(c0 + c_row * 0.5 + c_col * 0.5), _fix(c_row), _fix(c_col)


def _in_fixed_range(a: np.ndarray, out_shape: Tuple[int, int]) -> bool:
    oh, ow = out_shape
    corners = np.array([[0, 0, 1], [ow, 0, 1], [0, oh, 1], [ow, oh, 1]], np.float64)
    return bool((np.abs(corners @ a.T) < _FIXED_RANGE).all())


def _coordinate_rows(a: np.ndarray, axis: int, rows: range, ow: int, out: np.ndarray,
                     fixed: bool = True) -> np.ndarray:
    """Write the rule's source index along ``axis`` (0: x, 1: y) of output rows ``rows``
    into ``out`` (``len(rows) x ow``, any integer or float dtype) and return it; ``fixed``:
    the whole output is within PIL's fixed-point range (:func:`_in_fixed_range`)."""
    c_col, c_row, c0 = a[axis]
    if _separable(a):  # x depends on the column alone, y on the row alone
        if axis == 0:
            out[...] = np.floor((c0 + c_col * 0.5) + c_col * np.arange(ow))[None, :]
        else:
            out[...] = np.floor((c0 + c_row * 0.5) + c_row * np.arange(rows.start, rows.stop,
                                                                       dtype=np.float64))[:, None]
        return out
    if not fixed:  # beyond 16.16: float64, PIL's double path
        i = np.arange(rows.start, rows.stop, dtype=np.float64) + 0.5
        j = np.arange(ow, dtype=np.float64) + 0.5
        out[...] = np.floor(np.add.outer(c_row * i + c0, c_col * j))
        return out
    origin, per_row, per_col = _fixed_terms(a, axis)
    row_part = origin + per_row * np.arange(rows.start, rows.stop, dtype=np.int64)
    fixed = np.add.outer(row_part, per_col * np.arange(ow, dtype=np.int64))
    out[...] = np.right_shift(fixed, 16, out=fixed)
    return out


def nearest_source_indices(out_to_in, out_shape: Tuple[int, int]
                           ) -> Tuple[np.ndarray, np.ndarray]:
    """The input pixel each output pixel reads under nearest sampling: ``(src_y, src_x)``.

    PIL's ``Image.transform(AFFINE, NEAREST)`` rule, pixel for pixel (and the rule of the
    batched search ops): output pixel ``(i, j)`` reads input pixel ``(floor(y),
    floor(x))`` of ``(x, y) = A @ (j + .5, i + .5, 1)``, evaluated as PIL evaluates it:
    in double per column / row when ``A`` has no shear or rotation terms, else in 16.16
    fixed point (``x = (FIX(a02 + a01/2 + a00/2) + i FIX(a01) + j FIX(a00)) >> 16`` with
    ``FIX(v) = floor(65536 v + .5)``; float64 where a coordinate exceeds the fixed range).
    Returns two int64 arrays of shape ``out_shape``; positions outside the input are left
    as they are.
    """
    a = _as_affine(out_to_in)
    oh, ow = int(out_shape[0]), int(out_shape[1])
    fixed = _in_fixed_range(a, (oh, ow))
    return tuple(_coordinate_rows(a, axis, range(oh), ow, np.empty((oh, ow), np.int64),
                                  fixed) for axis in (1, 0))


def _integer_shift(a: np.ndarray, out_shape: Tuple[int, int]) -> Optional[Tuple[int, int]]:
    """``(sx, sy)`` if the rule is a whole-pixel translation (source = output + shift)."""
    if not _separable(a) or a[0, 0] != 1.0 or a[1, 1] != 1.0:
        return None
    oh, ow = out_shape
    sx = _coordinate_rows(a, 0, range(1), ow, np.empty((1, ow), np.int64))[0] - np.arange(ow)
    sy = _coordinate_rows(a, 1, range(oh), 1, np.empty((oh, 1), np.int64))[:, 0] \
        - np.arange(oh)
    if (ow and (sx != sx[0]).any()) or (oh and (sy != sy[0]).any()):
        return None
    return (int(sx[0]) if ow else 0, int(sy[0]) if oh else 0)


def _row_shifts(a: np.ndarray, out_shape: Tuple[int, int]) -> Optional[np.ndarray]:
    """Per-row shifts ``s`` if the rule reads ``(i, j + s[i])`` (an x-shear), else None.

    In 16.16 with ``FIX(a00) = FIX(a11) = 1`` and ``FIX(a10) = 0``, x is ``j + ((origin +
    i FIX(a01)) >> 16)`` and y is ``i + (origin_y >> 16)`` exactly.
    """
    if _separable(a) or not _in_fixed_range(a, out_shape):
        return None
    x_org, x_row, x_col = _fixed_terms(a, 0)
    y_org, y_row, y_col = _fixed_terms(a, 1)
    if x_col != _ONE or y_row != _ONE or y_col != 0 or y_org >> 16 != 0:
        return None
    return (x_org + x_row * np.arange(out_shape[0], dtype=np.int64)) >> 16


def _source_maps(a: np.ndarray, in_shape: Tuple[int, int], out_shape: Tuple[int, int]
                 ) -> np.ndarray:
    """The rule as cv2.remap's integer map: ``(oh, ow, 2)`` int16 ``(x, y)``, with every
    position outside the input at -1 or beyond (cv2.remap fills those)."""
    h, w = in_shape
    oh, ow = out_shape
    xy = np.empty((oh, ow, 2), np.int16)
    step = max(1, _MAP_BLOCK_PIXELS // max(ow, 1))
    buf = np.empty((min(step, oh), ow), np.int64)
    fixed = _in_fixed_range(a, out_shape)
    for r0 in range(0, oh, step):
        r1 = min(oh, r0 + step)
        for axis, hi in ((0, w), (1, h)):
            b = _coordinate_rows(a, axis, range(r0, r1), ow, buf[:r1 - r0], fixed)
            xy[r0:r1, :, axis] = np.clip(b, -1, hi, out=b)
    return xy


def _shift_rows(img: np.ndarray, shifts: np.ndarray, fill_vals: Tuple[float, ...],
                out_shape: Tuple[int, int]) -> np.ndarray:
    """``out[i, j] = img[i, j + shifts[i]]`` (fill outside); rows with the same shift are
    copied as one block."""
    h, w = img.shape[:2]
    oh, ow = out_shape
    out = np.empty((oh, ow) + img.shape[2:], dtype=img.dtype)
    fill = np.asarray(fill_vals if img.ndim == 3 else fill_vals[0])
    if img.dtype.kind in 'ui':  # as cv2 does: round and saturate
        info = np.iinfo(img.dtype)
        fill = np.clip(np.rint(fill), info.min, info.max)
    fill = fill.astype(img.dtype)
    rows = len(shifts)
    bounds = [0] + (np.flatnonzero(np.diff(shifts)) + 1).tolist() + [rows]
    for k in range(len(bounds) - 1):
        i0, i1 = bounds[k], bounds[k + 1]
        s = int(shifts[i0])
        j0, j1 = min(max(0, -s), ow), max(min(ow, w - s), 0)
        if j0 < j1:
            out[i0:i1, j0:j1] = img[i0:i1, j0 + s:j1 + s]
            out[i0:i1, :j0] = fill
            out[i0:i1, j1:] = fill
        else:
            out[i0:i1] = fill
    out[rows:] = fill
    return out


def _warp_nearest(img: np.ndarray, a: np.ndarray, fill_vals: Tuple[float, ...],
                  out_shape: Tuple[int, int]) -> np.ndarray:
    """Nearest warp of any dtype / channel count by the one rule (integer gathers only)."""
    oh, ow = out_shape
    shift = _integer_shift(a, out_shape)
    if shift is not None:
        return _translate_nearest(img, shift[0], shift[1], fill_vals, out_shape)
    h, w = img.shape[:2]
    channels = num_channels(img)
    if max(h, w) > _INT16_MAP_MAX:  # beyond cv2.remap's integer maps: numpy gathers
        src_y, src_x = nearest_source_indices(a, out_shape)
        inside = (src_x >= 0) & (src_x < w) & (src_y >= 0) & (src_y < h)
        flat = np.where(inside, src_y * w + src_x, 0).astype(np.int64)
        out = np.ascontiguousarray(img).reshape(h * w, channels)[flat]
        out[~inside] = np.array(fill_vals).astype(img.dtype)
        return out.reshape((oh, ow) + img.shape[2:])
    shifts = _row_shifts(a, out_shape)
    if shifts is not None:  # x-shear: block row copies
        return _shift_rows(img, shifts[:h], fill_vals, out_shape)
    maps = _source_maps(a, (h, w), out_shape)

    def remap(src, border):
        return cv2.remap(src, maps, None, cv2.INTER_NEAREST,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=border)

    if img.dtype.type in _CV_WARP_DTYPES and channels <= 4:
        return remap(as_cv(img), fill_vals).reshape((oh, ow) + img.shape[2:])
    # other dtypes or more channels: the same maps move the raw bytes, 4 at a time
    src_b = np.ascontiguousarray(img).reshape(h, w, channels).view(np.uint8)
    fill_b = np.array(fill_vals).astype(img.dtype).view(np.uint8)
    out_b = np.empty((oh, ow, src_b.shape[2]), np.uint8)
    for c0 in range(0, src_b.shape[2], 4):
        part = np.ascontiguousarray(src_b[:, :, c0:c0 + 4])
        border = tuple(float(v) for v in fill_b[c0:c0 + 4])
        out_b[:, :, c0:c0 + 4] = remap(part, border).reshape(oh, ow, -1)
    return out_b.view(img.dtype).reshape((oh, ow) + img.shape[2:])


def warp_affine(img: np.ndarray, out_to_in, *, fill: Fill = 0,
                interpolation: str = 'nearest',
                out_shape: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Warp ``img`` with an output -> input affine matrix (PIL ``Image.transform(AFFINE)``).

    Args:
        img: ``HxW`` or ``HxWxC`` array. Any dtype with ``'nearest'`` (label maps, masks,
            ...); uint8/uint16/int16/float32/float64 with ``'bilinear'``/``'bicubic'``.
        out_to_in: 3x3 (or 2x3) matrix in PIL's continuous frame: output pixel
            ``(row i, col j)`` reads the input at ``A @ (j + .5, i + .5, 1)``; with
            nearest, input pixel ``floor`` of that.
        fill: value for pixels that read outside the input: a scalar or a per-channel
            tuple in the image's channel order.
        interpolation: ``'nearest'``, ``'bilinear'`` or ``'bicubic'``.
        out_shape: ``(height, width)`` of the output; defaults to the input's.
    """
    img = np.asarray(img)
    if interpolation not in CV_INTERPOLATION_FLAGS:
        raise ValueError(f'interpolation must be one of '
                         f'{sorted(CV_INTERPOLATION_FLAGS)}, '
                         f'got {interpolation!r}')
    if img.ndim not in (2, 3):
        raise ValueError(f'expected an HxW or HxWxC array, got shape {img.shape}')
    a = _as_affine(out_to_in)
    h, w = img.shape[:2]
    oh, ow = (h, w) if out_shape is None else (int(out_shape[0]), int(out_shape[1]))
    channels = num_channels(img)
    fill_vals = fill_values(fill, channels)
    if interpolation == 'nearest':
        return _warp_nearest(img, a, fill_vals, (oh, ow))
    if img.dtype.type not in _CV_WARP_DTYPES or channels > 4:
        raise TypeError(f'{interpolation} warps need one of '
                        f'{[np.dtype(t).name for t in _CV_WARP_DTYPES]} with at most 4 '
                        f'channels; got {img.dtype} with {channels} channels')
    # PIL frame -> cv2 frame: in_int = in_cont - .5 and out_cont = out_int + .5, so
    # M = T(-.5) @ A @ T(+.5).
    m_cv = a.copy()
    m_cv[:, 2] = a[:, 0] * 0.5 + a[:, 1] * 0.5 + a[:, 2] - 0.5
    out = _cv_warp(as_cv(img), m_cv, (ow, oh), CV_INTERPOLATION_FLAGS[interpolation],
                   fill_vals)
    return out.reshape((oh, ow) + img.shape[2:])

