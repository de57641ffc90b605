"""Per-image implementations of the 15 DADA ops on uint8 numpy images.

The paper applied PIL ops (``ImageOps``, ``ImageEnhance``, ``Image.transform(AFFINE)``,
``Image.rotate``, all with NEAREST resampling and black fill, and Fast AutoAugment's
``CutoutAbs``). The functions here reproduce those semantics with OpenCV / numpy, which is
several times faster than round-tripping through PIL and works on the BGR arrays that
OpenMMLab pipelines carry (PIL only counts the histograms of large planes, through a
zero-copy view: :func:`_channel_histograms`).

Conventions
-----------
* Images are ``uint8`` arrays of shape ``HxW`` (gray), ``HxWx1`` or ``HxWx3``; the output
  always has the input's shape, ndim and dtype and is a new array (the input is never
  modified). Non-contiguous inputs are accepted.
* Nothing here draws random numbers: the caller passes the sign of signed ops and the
  Cutout centre.
* Colour ops act per channel, so the channel order only matters where PIL converts to
  its ``L`` (luma) image: :func:`contrast` and :func:`color` take ``channel_order``
  (``'bgr'``, OpenMMLab's default, or ``'rgb'``). Fill colours are given in the image's
  own channel order.
* Geometric ops take the matrices of
  :func:`dada_mm.search_space.inverse_output_to_input_matrix` (output -> input, PIL's
  continuous pixel frame).

Exactness with respect to PIL (checked by ``tests/test_image_ops.py``):

* Invert, Solarize, Posterize, AutoContrast, Equalize, Brightness, Contrast and Cutout are
  bit-exact (LUTs built with the same integer / float32 arithmetic as PIL).
* Color and Sharpness blend two images per pixel; PIL computes
  ``trunc(a + f * (b - a))`` in float32, we use ``cv2.addWeighted`` and may differ by 1
  where PIL's float32 product lands just below an integer (about 0.02% of values).
* The shears / rotations use ``cv2.warpAffine``, whose source coordinates are fixed point
  (1/1024 pixel): a pixel whose source coordinate is (within ~1e-3 px of) a pixel
  boundary may read the neighbour of the pixel PIL reads. Exact ties are common only for
  Rotate on odd sizes (half-integer centre), e.g. ~1% of pixels at 57x43, 0.1% at
  224x224. Pure translations are exact integer shifts (crop + ``cv2.copyMakeBorder``).
  Nearest ShearX on wide images is done as integer row shifts computed in float64
  (:func:`_shear_rows`); uint8 3-channel nearest warps run packed as one float32 channel
  (:func:`_warp_packed_bgr`, the same pixels as the 3-channel warp, several times faster).
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from PIL import Image

from dada_mm.search_space.ops import (CUTOUT_FILL_RGB, inverse_output_to_input_matrix,
                                      level_to_value)

__all__ = [
    'warp_affine', 'shear_x', 'shear_y', 'translate_x', 'translate_y', 'rotate',
    'auto_contrast', 'invert', 'equalize', 'solarize', 'posterize', 'contrast', 'color',
    'brightness', 'sharpness', 'cutout', 'cutout_box', 'apply_op', 'OP_FUNCTIONS',
    'pil_luma',
]

Fill = Union[int, float, Sequence[Union[int, float]]]

_INTERPOLATIONS = {
    'nearest': cv2.INTER_NEAREST,
    'bilinear': cv2.INTER_LINEAR,
    'bicubic': cv2.INTER_CUBIC,
}
# dtypes cv2.warpAffine handles natively (any interpolation).
_CV_WARP_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)

# PIL's RGB -> L weights (ITU-R 601-2 in 16-bit fixed point, summing to 65536):
# L = (R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16.
_L_WEIGHTS_RGB = (19595, 38470, 7471)

_IDENTITY_LUT = np.arange(256, dtype=np.uint8)
_IDENTITY_LUT.flags.writeable = False
_IDENTITY_BYTES = _IDENTITY_LUT.tobytes()
# LUTs look bytes up in pairs from this many bytes a plane on (below, building the
# 65536-entry table costs more than the pairing saves): _lut_into, _apply_channel_luts.
_PAIR_LUT_MIN_BYTES = 1 << 17
# _channel_histograms lets PIL count planes of at least this many pixels (below,
# converting PIL's lists of counts costs more than its faster counting saves).
_PIL_HIST_MIN_PIXELS = 1 << 18

# PIL ImageFilter.SMOOTH.
_SMOOTH_KERNEL = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=np.float32) / 13.0

# cv2.addWeighted rounds to nearest; PIL's blend truncates. Shifting by -0.5 turns the
# rounding into a floor; the small extra margin keeps exact integers (a == b pixels) from
# being pulled down by float32 error in cv2's x*f + y*(1-f).
_FLOOR_BIAS = -0.5 + 1e-3


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def _check_u8(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise TypeError(f'expected a uint8 image, got dtype {img.dtype}')
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (1, 3))):
        raise ValueError(f'expected an HxW, HxWx1 or HxWx3 image, got shape {img.shape}')
    if img.size == 0:  # cv2 aborts the process on some empty inputs (e.g. minMaxLoc)
        raise ValueError(f'expected a non-empty image, got shape {img.shape}')
    return img


def _num_channels(img: np.ndarray) -> int:
    return 1 if img.ndim == 2 else img.shape[2]


def _as_cv(img: np.ndarray) -> np.ndarray:
    """Contiguous array cv2 accepts (HxWx1 -> HxW view)."""
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    return np.ascontiguousarray(img)


def _restore(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Give ``out`` (cv2's result) the shape of ``like``."""
    if out.shape != like.shape:
        out = out.reshape(like.shape)
    return out


def _fill_values(fill: Fill, channels: int) -> Tuple[float, ...]:
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


def _apply_lut(img: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Apply one 256-entry uint8 LUT to every channel."""
    return _restore(_lut_image(_as_cv(img), np.ascontiguousarray(lut, dtype=np.uint8)), img)


def _lut_image(src: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """``lut`` applied to every byte of a contiguous image, into a fresh array."""
    out = np.empty_like(src)
    _lut_into(src.reshape(-1), lut, out.reshape(-1))
    return out


def _pair_tables(luts: Sequence[np.ndarray]) -> np.ndarray:
    """``(len(luts), 65536)`` uint16 tables: a byte pair (either byte order) -> its two
    values under one of ``luts``."""
    l16 = np.asarray(luts, dtype=np.uint16)
    return ((l16[:, :, None] << 8) | l16[:, None, :]).reshape(len(l16), -1)


def _lut_into(src: np.ndarray, lut: np.ndarray, dst: np.ndarray) -> None:
    """``dst[:] = lut[src]`` for flat contiguous uint8 arrays of one size (may alias).

    cv2.LUT costs about a cycle per looked-up element, so on large arrays the bytes are
    looked up in pairs (uint16 view, 65536-entry table): ~1.6x faster on a 1333x800 plane
    even after building the table (~25 us, which is why small arrays use the byte table).
    """
    n = src.size
    m = n - (n & 1)
    if n >= _PAIR_LUT_MIN_BYTES:
        src16, dst16 = src[:m].view(np.uint16), dst[:m].view(np.uint16)
        if src16.flags.aligned and dst16.flags.aligned:
            cv2.LUT(src16, _pair_tables([lut])[0], dst=dst16)
            if m < n:
                dst[m] = lut[src[m]]
            return
    cv2.LUT(src, lut, dst=dst)


def _split(src: np.ndarray) -> np.ndarray:
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


def _merge(planes: np.ndarray, h: int, w: int) -> np.ndarray:
    """Interleave the rows of a :func:`_split` array back into a fresh HxWxC image."""
    return cv2.merge([p[:h * w].reshape(h, w) for p in planes])


def _channel_histograms(planes: np.ndarray, n: int) -> np.ndarray:
    """``(C, 256)`` int64 histograms of the first ``n`` bytes of each row of ``planes``.

    Large planes are counted by PIL viewing them (no copy) as 4-byte RGBX pixels, one
    table per byte of a pixel, summed: 1.2-1.4x faster than cv2.calcHist's single table
    on photos and the benchmark images, 1.7x on very smooth ones, on par on pure noise.
    Small planes use cv2.calcHist, which avoids converting PIL's 1024-int lists.
    """
    c = planes.shape[0]
    if _PIL_HIST_MIN_PIXELS <= n < (1 << 31):
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


def _apply_channel_luts(src: np.ndarray, luts: Sequence[np.ndarray],
                        planes: Optional[np.ndarray] = None) -> np.ndarray:
    """Apply ``luts[c]`` (256 uint8 each) to channel ``c`` of a contiguous cv image.

    ``planes`` is ``_split(src)`` if the caller already made it. cv2's multi-channel LUT
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
        return _lut_image(src, first)
    if planes is None:
        planes = _split(src)
    todo = [k for k, skip in enumerate(ident) if not skip]
    if planes.shape[1] >= _PAIR_LUT_MIN_BYTES:  # as in _lut_into, tables built at once
        words = planes.view(np.uint16)  # rows have even length, the buffer is aligned
        for k, table in zip(todo, _pair_tables([luts[k] for k in todo])):
            cv2.LUT(words[k], table, dst=words[k])
    else:
        for k in todo:
            cv2.LUT(planes[k], luts[k], dst=planes[k])
    return _merge(planes, src.shape[0], src.shape[1])


def _blend_lut(degenerate: float, factor: float) -> np.ndarray:
    """LUT of PIL's ``Image.blend(degenerate_const, img, factor)`` for every input value.

    PIL (ImagingBlend) evaluates ``in1 + alpha * (in2 - in1)`` in float32 (alpha is a C
    float), clips to [0, 255] and truncates toward zero.
    """
    alpha = np.float32(factor)
    x = np.arange(256, dtype=np.float32)
    d = np.float32(degenerate)
    v = d + alpha * (x - d)  # float32 throughout
    return np.clip(v, 0, 255).astype(np.uint8)  # values in [0, 255]: astype truncates


def _blend_images(degenerate: np.ndarray, img: np.ndarray, factor: float) -> np.ndarray:
    """PIL ``Image.blend(degenerate, img, factor)`` (within 1 of PIL, see module doc)."""
    alpha = float(np.float32(factor))  # PIL passes alpha on as a C float
    if alpha == 1.0:  # PIL copies the image (e.g. level 0.5 gives 0.9999999999999999)
        return img.copy()
    if alpha == 0.0:
        return degenerate.copy()
    return cv2.addWeighted(img, alpha, degenerate, 1.0 - alpha, _FLOOR_BIAS)


def pil_luma(img: np.ndarray, channel_order: str = 'bgr') -> np.ndarray:
    """PIL's ``convert('L')`` of a 3-channel uint8 image (HxW uint8, bit-exact).

    ``L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16``. Computed as a float32
    ``cv2.transform`` with the weights divided by 2**16 and an offset of 0.5: every
    partial sum is a multiple of 2**-16 below 256, so it is exact in float32, and the
    final truncation to uint8 is the floor.
    """
    img = _check_u8(img)
    if _num_channels(img) != 3:
        raise ValueError('pil_luma expects a 3-channel image')
    if channel_order == 'rgb':
        w = _L_WEIGHTS_RGB
    elif channel_order == 'bgr':
        w = _L_WEIGHTS_RGB[::-1]
    else:
        raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
    m = np.array([[w[0] / 65536.0, w[1] / 65536.0, w[2] / 65536.0, 0.5]])
    y = cv2.transform(np.ascontiguousarray(img).astype(np.float32), m)
    return y.reshape(img.shape[:2]).astype(np.uint8)


# --------------------------------------------------------------------------------------
# geometric ops
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
    channels = _num_channels(img)
    if i0 < i1 and j0 < j1 and img.dtype.type in _CV_WARP_DTYPES and channels <= 4:
        # One pass: crop the part that stays visible and pad it with the fill colour.
        crop = np.ascontiguousarray(_as_cv(img)[i0 + sy:i1 + sy, j0 + sx:j1 + sx])
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


# The packed warp below moves 4-byte pixels (B, G, R, 255) as float32 values. Pixels whose
# bytes spell a NaN must keep their bits through cv2's copy; that holds for plain loads
# and stores (x86, ARM), and _packed_warp_is_exact() checks it once on all byte patterns.
# Otherwise (or for a border colour that is not a finite float) the alpha byte is set to
# 63 first, which makes every value a normal finite float (exponent 126 or 127).
_PACK_MARKER = 63
_PACK_MASK = (255.0, 255.0, 255.0, float(_PACK_MARKER))
_PACKED_EXACT: Optional[bool] = None
# _shear_rows copies one block per distinct row shift (about |shear| * height blocks);
# below this many bytes per block the per-block Python cost exceeds cv2.warpAffine's.
_MIN_RUN_BYTES = 12288


def _packed_warp_is_exact() -> bool:
    """Whether the float32 packed warp with alpha 255 reproduces the 3-channel warp."""
    global _PACKED_EXACT
    if _PACKED_EXACT is None:
        vals = np.arange(256 * 256, dtype=np.uint32)
        img = np.empty((256, 256, 3), np.uint8)  # every (G, R) pair, B varies
        img[..., 0] = (vals * 7 % 256).reshape(256, 256)
        img[..., 1] = (vals % 256).reshape(256, 256)
        img[..., 2] = (vals // 256).reshape(256, 256)
        m = np.array([[0.9, 0.3, 5.2], [-0.25, 1.05, 3.7]])
        ref = _cv_warp(img, m, (256, 256), cv2.INTER_NEAREST, (0.0, 0.0, 0.0))
        _PACKED_EXACT = True  # let the trial run take the alpha-255 path
        out = _warp_packed_bgr(img, m, (256, 256), (0.0, 0.0, 0.0))
        _PACKED_EXACT = bool(out is not None and np.array_equal(out, ref))
    return _PACKED_EXACT


def _warp_packed_bgr(img: np.ndarray, m_cv: np.ndarray, size: Tuple[int, int],
                     fill_vals: Tuple[float, ...]) -> Optional[np.ndarray]:
    """Nearest warp of an HxWx3 uint8 image as one float32 channel (None if unsuitable).

    cv2's nearest remap is several times slower on 3-channel uint8 images than on one
    4-byte channel (the multi-channel inner loop), so the pixels are packed into 4 bytes
    (BGR + alpha), warped as float32 (a pure copy of bits: the same source pixels as the
    3-channel warp) and unpacked.
    """
    fill_u8 = []
    for v in fill_vals:
        if not (0.0 <= v <= 255.0 and float(v).is_integer()):
            return None  # let cv2 saturate / round odd fill values itself
        fill_u8.append(int(v))
    src = np.ascontiguousarray(img)
    h, w = src.shape[:2]
    packed = cv2.cvtColor(src, cv2.COLOR_BGR2BGRA)  # alpha 255
    alpha = 255
    if any(fill_u8):
        border = float(np.array(fill_u8 + [alpha], np.uint8).view(np.float32)[0])
    else:
        border = 0.0
    if not (math.isfinite(border) and (_PACKED_EXACT or _packed_warp_is_exact())):
        cv2.bitwise_and(packed, _PACK_MASK, dst=packed)
        alpha = _PACK_MARKER
        border = float(np.array(fill_u8 + [alpha], np.uint8).view(np.float32)[0])
    out = cv2.warpAffine(packed.view(np.float32).reshape(h, w), m_cv, size,
                         flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    ow, oh = size
    return cv2.cvtColor(out.view(np.uint8).reshape(oh, ow, 4), cv2.COLOR_BGRA2BGR)


def _shear_rows(img: np.ndarray, b: float, c: float, fill_vals: Tuple[float, ...],
                out_shape: Tuple[int, int]) -> np.ndarray:
    """Nearest warp by ``x_in = x + b * y + c``: every row is an integer shift.

    Output row ``i`` reads input row ``i``, columns ``j + s_i`` with
    ``s_i = floor(.5 + b (i + .5) + c)`` (PIL's frame), computed in float64; rows with the
    same shift are copied as one block.
    """
    h, w = img.shape[:2]
    oh, ow = out_shape
    out = np.empty((oh, ow) + img.shape[2:], dtype=img.dtype)
    fill = np.asarray(fill_vals if img.ndim == 3 else fill_vals[0])
    if img.dtype.kind in 'ui':  # as cv2 does: round and saturate
        info = np.iinfo(img.dtype)
        fill = np.clip(np.rint(fill), info.min, info.max)
    fill = fill.astype(img.dtype)
    if not fill.any():
        fill = 0
    rows = min(h, oh)
    shifts = np.floor(0.5 + b * (np.arange(rows) + 0.5) + c).astype(np.int64)
    starts = np.flatnonzero(np.diff(shifts)) + 1
    bounds = [0] + starts.tolist() + [rows]
    for k in range(len(bounds) - 1):
        i0, i1 = bounds[k], bounds[k + 1]
        s = int(shifts[i0])
        j0, j1 = min(max(0, -s), ow), max(min(ow, w - s), 0)
        if j0 < j1:
            out[i0:i1, j0:j1] = img[i0:i1, j0 + s:j1 + s]
            if j0 > 0:
                out[i0:i1, :j0] = fill
            if j1 < ow:
                out[i0:i1, j1:] = fill
        else:
            out[i0:i1] = fill
    if rows < oh:
        out[rows:] = fill
    return out


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
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f'interpolation must be one of {sorted(_INTERPOLATIONS)}, '
                         f'got {interpolation!r}')
    if img.ndim not in (2, 3):
        raise ValueError(f'expected an HxW or HxWxC array, got shape {img.shape}')
    a = _as_affine(out_to_in)
    h, w = img.shape[:2]
    oh, ow = (h, w) if out_shape is None else (int(out_shape[0]), int(out_shape[1]))
    channels = _num_channels(img)
    fill_vals = _fill_values(fill, channels)
    nearest = interpolation == 'nearest'

    # Pure translation with nearest sampling: exact integer shift.
    # floor(j + .5 + tx) = j + floor(.5 + tx).
    if nearest and a[0, 0] == 1.0 and a[0, 1] == 0.0 and a[1, 0] == 0.0 and a[1, 1] == 1.0:
        sx = int(math.floor(0.5 + a[0, 2]))
        sy = int(math.floor(0.5 + a[1, 2]))
        return _translate_nearest(img, sx, sy, fill_vals, (oh, ow))

    # PIL frame -> cv2 frame: in_int = in_cont - .5 and out_cont = out_int + .5, so
    # M = T(-.5) @ A @ T(+.5). cv2's nearest rounds M @ (x, y) to the nearest integer,
    # i.e. floor(in_int + .5) = floor(in_cont): the pixel PIL reads.
    m_cv = a.copy()
    m_cv[:, 2] = a[:, 0] * 0.5 + a[:, 1] * 0.5 + a[:, 2] - 0.5
    flags = _INTERPOLATIONS[interpolation]
    size = (ow, oh)

    # Shear along x (rows move as wholes): exact integer row shifts, see _shear_rows.
    # Worth it when the blocks are large (few runs for many pixels), e.g. at COCO sizes.
    if nearest and a[1, 0] == 0.0 and a[0, 0] == 1.0 and a[1, 1] == 1.0 \
            and a[1, 2] == 0.0 and ow * channels * img.dtype.itemsize >= _MIN_RUN_BYTES \
            * (abs(a[0, 1]) + 1.0 / max(min(h, oh), 1)):
        return _shear_rows(img, a[0, 1], a[0, 2], fill_vals, (oh, ow))

    dtype = img.dtype
    if nearest and dtype == np.uint8 and channels == 3:
        packed = _warp_packed_bgr(img, m_cv, size, fill_vals)
        if packed is not None:
            return packed
    if dtype.type in _CV_WARP_DTYPES and channels <= 4:
        src = _as_cv(img)
        out = _cv_warp(src, m_cv, size, flags, fill_vals)
        return out.reshape((oh, ow) + img.shape[2:])
    if not nearest:
        raise TypeError(f'{interpolation} warps need one of '
                        f'{[np.dtype(t).name for t in _CV_WARP_DTYPES]} with at most 4 '
                        f'channels; got {dtype} with {channels} channels')
    # Nearest sampling only moves whole elements, so any dtype / channel count can be
    # warped as raw bytes in chunks of (at most) 4 uint8 channels. The sampling positions
    # are the same as for a native warp, so label maps stay aligned with their image.
    src = np.ascontiguousarray(img).reshape(h, w, channels)
    fill_arr = np.array(fill_vals).astype(dtype).reshape(1, 1, channels)
    src_b = src.view(np.uint8).reshape(h, w, -1)
    fill_b = fill_arr.view(np.uint8).reshape(-1)
    chunks = []
    for c0 in range(0, src_b.shape[2], 4):
        part = np.ascontiguousarray(src_b[:, :, c0:c0 + 4])
        border = tuple(float(v) for v in fill_b[c0:c0 + 4])
        o = _cv_warp(part, m_cv, size, flags, border)
        chunks.append(o.reshape(oh, ow, -1))
    out_b = np.ascontiguousarray(np.concatenate(chunks, axis=2))
    return out_b.view(dtype).reshape((oh, ow) + img.shape[2:])


def _geometric(img: np.ndarray, name: str, value: float, fill: Fill,
               interpolation: str) -> np.ndarray:
    img = np.asarray(img)
    h, w = img.shape[:2]
    m = _inverse_matrix(name, float(value), h, w)
    return warp_affine(img, m, fill=fill, interpolation=interpolation)


@functools.lru_cache(maxsize=2048)
def _inverse_matrix(name: str, value: float, height: int, width: int) -> np.ndarray:
    """Cached (read-only) ``inverse_output_to_input_matrix``: repeated per image."""
    m = inverse_output_to_input_matrix(name, value, height, width)
    m.flags.writeable = False
    return m


def shear_x(img: np.ndarray, v: float, *, fill: Fill = 0,
            interpolation: str = 'nearest') -> np.ndarray:
    """PIL ``transform(AFFINE, (1, v, 0, 0, 1, 0))``: shear about the top-left corner."""
    return _geometric(img, 'ShearX', v, fill, interpolation)


def shear_y(img: np.ndarray, v: float, *, fill: Fill = 0,
            interpolation: str = 'nearest') -> np.ndarray:
    """PIL ``transform(AFFINE, (1, 0, 0, v, 1, 0))``."""
    return _geometric(img, 'ShearY', v, fill, interpolation)


def translate_x(img: np.ndarray, v: float, *, fill: Fill = 0,
                interpolation: str = 'nearest') -> np.ndarray:
    """PIL ``transform(AFFINE, (1, 0, v * width, 0, 1, 0))`` (v > 0 moves content left)."""
    return _geometric(img, 'TranslateX', v, fill, interpolation)


def translate_y(img: np.ndarray, v: float, *, fill: Fill = 0,
                interpolation: str = 'nearest') -> np.ndarray:
    """PIL ``transform(AFFINE, (1, 0, 0, 0, 1, v * height))``."""
    return _geometric(img, 'TranslateY', v, fill, interpolation)


def rotate(img: np.ndarray, degrees: float, *, fill: Fill = 0,
           interpolation: str = 'nearest') -> np.ndarray:
    """PIL ``img.rotate(degrees)``: counter-clockwise about the image centre, same size."""
    return _geometric(img, 'Rotate', degrees, fill, interpolation)


# --------------------------------------------------------------------------------------
# colour ops (bit-exact LUTs)
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def _autocontrast_lut_lohi(lo: int, hi: int) -> np.ndarray:
    """AutoContrast table for a channel spanning [lo, hi] (cached: callers never modify
    the returned array)."""
    if hi <= lo:
        return _IDENTITY_LUT
    scale = 255.0 / (hi - lo)
    offset = -lo * scale
    v = np.arange(256, dtype=np.float64) * scale + offset  # same float64 ops as PIL
    lut = np.clip(np.trunc(v), 0, 255).astype(np.uint8)
    lut.flags.writeable = False
    return lut


def auto_contrast(img: np.ndarray) -> np.ndarray:
    """PIL ``ImageOps.autocontrast(img)`` (cutoff 0): stretch each channel to [0, 255]."""
    img = _check_u8(img)
    src = _as_cv(img)
    if src.ndim == 2:
        lo, hi, _, _ = cv2.minMaxLoc(src)
        return _restore(_apply_channel_luts(
            src, [_autocontrast_lut_lohi(int(lo), int(hi))]), img)
    # Split first: the extremes are cheap row reductions of the planes (half the cost of
    # per-channel reductions of the interleaved image), which the LUTs then reuse.
    planes = _split(src)
    valid = planes[:, :src.shape[0] * src.shape[1]]
    luts = [_autocontrast_lut_lohi(lo, hi)
            for lo, hi in zip(valid.min(axis=1).tolist(), valid.max(axis=1).tolist())]
    return _restore(_apply_channel_luts(src, luts, planes), img)


def _equalize_luts(hists: np.ndarray) -> list:
    """PIL's equalize table for each row of a ``(C, 256)`` int64 histogram stack.

    PIL: ``step = (count - count of the last non-empty bin) // 255`` (no change if 0,
    which covers channels with at most one non-empty bin); ``n = step // 2``; ``lut[i] =
    n // step``; ``n += h[i]``; point() clips entries above 255. All channels at once: at
    224x224 per-channel numpy calls cost as much as a LUT pass.
    """
    cum = np.cumsum(hists, axis=1)
    before = cum - hists  # pixels below each value
    last = cum.argmax(axis=1)  # first bin where cum reaches the total: the last non-empty
    step = before[np.arange(len(last)), last] // 255
    div = np.maximum(step, 1)[:, None]
    luts = np.minimum((before + div // 2) // div, 255).astype(np.uint8)
    return [luts[k] if step[k] else _IDENTITY_LUT for k in range(len(step))]


def equalize(img: np.ndarray) -> np.ndarray:
    """PIL ``ImageOps.equalize(img)``, per channel."""
    img = _check_u8(img)
    src = _as_cv(img)
    if src.ndim == 2:
        luts = _equalize_luts(_channel_histograms(src.reshape(1, -1), src.size))
        return _restore(_apply_channel_luts(src, luts), img)
    # split once: the planes serve both the histograms and the per-plane LUTs
    planes = _split(src)
    n = src.shape[0] * src.shape[1]
    luts = _equalize_luts(_channel_histograms(planes, n))
    return _restore(_apply_channel_luts(src, luts, planes), img)


def invert(img: np.ndarray) -> np.ndarray:
    """PIL ``ImageOps.invert``: ``255 - x``."""
    img = _check_u8(img)
    return _restore(cv2.bitwise_not(_as_cv(img)), img)


def solarize(img: np.ndarray, threshold: float) -> np.ndarray:
    """PIL ``ImageOps.solarize``: pixels ``>= threshold`` become ``255 - x``."""
    img = _check_u8(img)
    first = math.ceil(float(threshold))  # smallest inverted value
    if first > 255:
        return img.copy()
    src = _as_cv(img)
    if first <= 0:
        return _restore(cv2.bitwise_not(src), img)
    # 255 - x == x ^ 255: xor with a 255 mask where x > first - 1.
    _, mask = cv2.threshold(src, first - 1, 255, cv2.THRESH_BINARY)
    return _restore(cv2.bitwise_xor(src, mask), img)


def posterize(img: np.ndarray, bits: int) -> np.ndarray:
    """PIL ``ImageOps.posterize``: keep the top ``bits`` bits (``bits`` is floored)."""
    img = _check_u8(img)
    bits = int(bits)
    if not 0 <= bits <= 8:
        raise ValueError(f'bits must be in [0, 8], got {bits}')
    mask = np.uint8((0xFF << (8 - bits)) & 0xFF)
    return np.bitwise_and(img, mask)


def brightness(img: np.ndarray, factor: float) -> np.ndarray:
    """PIL ``ImageEnhance.Brightness(img).enhance(factor)`` (blend with black)."""
    img = _check_u8(img)
    if np.float32(factor) == 1.0:
        return img.copy()
    return _apply_lut(img, _blend_lut(0.0, factor))


def _gray_of(img: np.ndarray, channel_order: str) -> np.ndarray:
    if _num_channels(img) == 1:
        return _as_cv(img)
    return pil_luma(img, channel_order)


def contrast(img: np.ndarray, factor: float, *, channel_order: str = 'bgr') -> np.ndarray:
    """PIL ``ImageEnhance.Contrast(img).enhance(factor)``.

    Blends with a constant image at ``int(mean(L) + 0.5)``, ``L`` being PIL's luma image
    (the gray values themselves for gray input).
    """
    img = _check_u8(img)
    if channel_order not in ('bgr', 'rgb'):
        raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
    gray = _gray_of(img, channel_order)
    total = int(round(cv2.sumElems(gray)[0]))  # exact: integer sum in float64
    mean = int(total / gray.size + 0.5)  # ImageStat: sum(i * h[i]) / count
    return _apply_lut(img, _blend_lut(mean, factor))


def color(img: np.ndarray, factor: float, *, channel_order: str = 'bgr') -> np.ndarray:
    """PIL ``ImageEnhance.Color(img).enhance(factor)``: blend with the luma image.

    Identity on gray images (PIL's degenerate image is the image itself).
    """
    img = _check_u8(img)
    if channel_order not in ('bgr', 'rgb'):
        raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
    if _num_channels(img) == 1 or np.float32(factor) == 1.0:
        return img.copy()
    gray = pil_luma(img, channel_order)
    degenerate = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    return _blend_images(degenerate, np.ascontiguousarray(img), factor)


def sharpness(img: np.ndarray, factor: float) -> np.ndarray:
    """PIL ``ImageEnhance.Sharpness(img).enhance(factor)``.

    Blends with ``ImageFilter.SMOOTH`` (3x3 ``[[1,1,1],[1,5,1],[1,1,1]] / 13`` rounded to
    nearest; PIL keeps the one-pixel border unfiltered).
    """
    img = _check_u8(img)
    if np.float32(factor) == 1.0:
        return img.copy()
    src = _as_cv(img)
    smooth = cv2.filter2D(src, -1, _SMOOTH_KERNEL, borderType=cv2.BORDER_REPLICATE)
    smooth[0] = src[0]
    smooth[-1] = src[-1]
    smooth[:, 0] = src[:, 0]
    smooth[:, -1] = src[:, -1]
    return _restore(_blend_images(smooth, src, factor), img)


# --------------------------------------------------------------------------------------
# cutout
# --------------------------------------------------------------------------------------
def cutout_box(height: int, width: int, side: float,
               center: Tuple[float, float]) -> Tuple[int, int, int, int]:
    """Pixel box ``(x0, y0, x1, y1)`` that Cutout fills: columns ``[x0, x1)`` and rows
    ``[y0, y1)`` (half-open, clipped to the image). ``(0, 0, 0, 0)`` when ``side <= 0``.

    Fast AutoAugment's ``CutoutAbs`` computes ``x0 = int(max(0, cx*w - side/2))``,
    ``x1 = min(w, x0 + side)`` (a float) and draws ``ImageDraw.rectangle((x0, y0, x1,
    y1))``, whose corners PIL truncates to int and treats as *inclusive*: the filled
    columns are ``x0 .. int(x1)``, clipped to ``w - 1``.
    """
    side = float(side)
    if side <= 0:
        return (0, 0, 0, 0)
    cx, cy = float(center[0]), float(center[1])
    x0 = int(max(0.0, cx * width - side / 2.0))
    y0 = int(max(0.0, cy * height - side / 2.0))
    x1 = min(width, x0 + side)
    y1 = min(height, y0 + side)
    x0, y0 = min(x0, width), min(y0, height)
    return (x0, y0, min(int(x1) + 1, width), min(int(y1) + 1, height))


def cutout(img: np.ndarray, side: float, center: Tuple[float, float], *,
           fill: Fill = CUTOUT_FILL_RGB) -> np.ndarray:
    """Fast AutoAugment ``CutoutAbs``: fill a ``side``-pixel square at ``center``.

    ``center = (cx, cy)`` are fractions in [0, 1) of the width / height (the caller draws
    them). ``fill`` is in the image's channel order (gray images use its first value).
    ``side <= 0`` returns a copy.
    """
    img = _check_u8(img)
    out = np.array(img, order='C', copy=True)
    h, w = img.shape[:2]
    x0, y0, x1, y1 = cutout_box(h, w, side, center)
    if x1 > x0 and y1 > y0:
        vals = _fill_values(fill, _num_channels(img))
        # round half to even and saturate, as np.rint + clip (in Python: ~10x faster)
        colour = tuple(min(255, max(0, round(v))) for v in vals)
        # filled rectangle, inclusive corners, drawn in place on the (contiguous) copy
        cv2.rectangle(_as_cv(out), (x0, y0), (x1 - 1, y1 - 1), colour, thickness=-1)
    return out


# --------------------------------------------------------------------------------------
# dispatcher
# --------------------------------------------------------------------------------------
OP_FUNCTIONS: Dict[str, Callable[..., np.ndarray]] = {
    'ShearX': shear_x,
    'ShearY': shear_y,
    'TranslateX': translate_x,
    'TranslateY': translate_y,
    'Rotate': rotate,
    'AutoContrast': auto_contrast,
    'Invert': invert,
    'Equalize': equalize,
    'Solarize': solarize,
    'Posterize': posterize,
    'Contrast': contrast,
    'Color': color,
    'Brightness': brightness,
    'Sharpness': sharpness,
    'Cutout': cutout,
}


def apply_op(img: np.ndarray, name: str, level: float, *, sign: float = 1.0,
             center: Tuple[float, float] = (0.5, 0.5), fill: Fill = 0,
             cutout_fill: Optional[Fill] = None, interpolation: str = 'nearest',
             channel_order: str = 'bgr') -> np.ndarray:
    """Apply op ``name`` at ``level`` (in [0, 1]) to ``img``.

    ``value = level_to_value(name, level, sign)`` (``sign`` only affects the signed
    geometric ops). ``fill`` is the geometric ops' fill, ``cutout_fill`` Cutout's, both in
    the image's channel order; ``cutout_fill=None`` means Fast AutoAugment's RGB
    (125, 123, 114) arranged for ``channel_order`` (125 on gray images). ``center`` is
    Cutout's centre ``(cx, cy)`` as fractions of width / height.
    """
    value = level_to_value(name, level, sign)  # validates the name
    if name in ('ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate'):
        return OP_FUNCTIONS[name](img, value, fill=fill, interpolation=interpolation)
    if name in ('AutoContrast', 'Invert', 'Equalize'):
        return OP_FUNCTIONS[name](img)
    if name == 'Solarize':
        return solarize(img, value)
    if name == 'Posterize':
        return posterize(img, int(value))
    if name in ('Contrast', 'Color'):
        return OP_FUNCTIONS[name](img, value, channel_order=channel_order)
    if name in ('Brightness', 'Sharpness'):
        return OP_FUNCTIONS[name](img, value)
    # Cutout
    img = np.asarray(img)
    if cutout_fill is None:
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
        if img.ndim == 2 or img.shape[2] == 1:
            cutout_fill = CUTOUT_FILL_RGB[0]  # gray: the R value (PIL rejects a tuple)
        elif channel_order == 'bgr':
            cutout_fill = CUTOUT_FILL_RGB[::-1]
        else:
            cutout_fill = CUTOUT_FILL_RGB
    width = img.shape[1]
    return cutout(img, value * width, center, fill=cutout_fill)
