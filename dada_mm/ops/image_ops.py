"""Per-image implementations of the 15 DADA ops on uint8 numpy images.

The paper applied PIL ops (NEAREST resampling, black fill, Fast AutoAugment's
``CutoutAbs``); these reproduce their semantics (stated once, in :mod:`dada_mm.ops.table`)
with OpenCV / numpy kernels (:mod:`dada_mm.ops.cv_kernels`), several times faster than
PIL, on the BGR arrays OpenMMLab pipelines carry. One public function per op plus
:func:`apply_op`, which dispatches by name through ``OP_FUNCTIONS``.

Contract: ``uint8`` images ``HxW``, ``HxWx1`` or ``HxWx3`` in, a new array of the same
shape and dtype out; nothing here draws random numbers (the caller passes the sign of
signed ops and the Cutout centre); ``channel_order`` (``'bgr'`` or ``'rgb'``) matters only
where PIL converts to luma (:func:`contrast`, :func:`color`). Every op is bit-exact with
PIL except Color and Sharpness (``cv2.addWeighted``, off by 1 on about 0.02 % of values),
checked by ``tests/test_image_ops.py``; the warps sample by PIL's own rule
(:func:`~dada_mm.ops.cv_kernels.nearest_source_indices`), as the batched search ops do.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Dict, NamedTuple, Optional, Tuple

import cv2
import numpy as np

from dada_mm.search_space.channels import check_channel_order, fill_in_order, rgb_to_order

from .cv_kernels import (
    IDENTITY_LUT,
    Fill,
    apply_channel_luts,
    apply_lut,
    as_cv,
    blend_images,
    blend_lut,
    channel_histograms,
    check_u8,
    fill_values,
    num_channels,
    restore,
    split_planes,
    warp_affine,
)
from .table import (
    CUTOUT_FILL_RGB,
    LUMA_SHIFT,
    LUMA_WEIGHTS_RGB,
    OP_NAMES,
    SMOOTH_DIVISOR,
    SMOOTH_KERNEL,
    check_registry,
    cutout_box_edges,
    cutout_side,
    inverse_output_to_input_matrix,
    level_to_value,
    ops_of_kind,
)

__all__ = [
    'warp_affine', 'shear_x', 'shear_y', 'translate_x', 'translate_y', 'rotate',
    'auto_contrast', 'invert', 'equalize', 'solarize', 'posterize', 'contrast', 'color',
    'brightness', 'sharpness', 'cutout', 'cutout_box', 'apply_op', 'OP_FUNCTIONS',
    'OpArgs', 'pil_luma',
]

# PIL ImageFilter.SMOOTH, as cv2.filter2D takes it.
_SMOOTH_KERNEL = np.array(SMOOTH_KERNEL, dtype=np.float32) / float(SMOOTH_DIVISOR)


def pil_luma(img: np.ndarray, channel_order: str = 'bgr') -> np.ndarray:
    """PIL's ``convert('L')`` of a 3-channel uint8 image (HxW uint8, bit-exact).

    ``L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16`` (``LUMA_WEIGHTS_RGB``). Computed
    as a float32 ``cv2.transform`` with the weights divided by 2**16 and an offset of 0.5:
    every partial sum is a multiple of 2**-16 below 256, so it is exact in float32, and
    the final truncation to uint8 is the floor.
    """
    img = check_u8(img)
    if num_channels(img) != 3:
        raise ValueError('pil_luma expects a 3-channel image')
    w = rgb_to_order(LUMA_WEIGHTS_RGB, channel_order)
    one = float(1 << LUMA_SHIFT)
    m = np.array([[w[0] / one, w[1] / one, w[2] / one, 0.5]])
    y = cv2.transform(np.ascontiguousarray(img).astype(np.float32), m)
    return y.reshape(img.shape[:2]).astype(np.uint8)


# --------------------------------------------------------------------------------------
# 'geometric' ops
# --------------------------------------------------------------------------------------
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
# 'lut' ops (bit-exact)
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def _autocontrast_lut_lohi(lo: int, hi: int) -> np.ndarray:
    """AutoContrast table for a channel spanning [lo, hi] (cached: callers never modify
    the returned array)."""
    if hi <= lo:
        return IDENTITY_LUT
    scale = 255.0 / (hi - lo)
    offset = -lo * scale
    v = np.arange(256, dtype=np.float64) * scale + offset  # same float64 ops as PIL
    lut = np.clip(np.trunc(v), 0, 255).astype(np.uint8)
    lut.flags.writeable = False
    return lut


def auto_contrast(img: np.ndarray) -> np.ndarray:
    """PIL ``ImageOps.autocontrast(img)`` (cutoff 0): stretch each channel to [0, 255]."""
    img = check_u8(img)
    src = as_cv(img)
    if src.ndim == 2:
        lo, hi, _, _ = cv2.minMaxLoc(src)
        return restore(apply_channel_luts(
            src, [_autocontrast_lut_lohi(int(lo), int(hi))]), img)
    # Split first: the extremes are cheap row reductions of the planes (half the cost of
    # per-channel reductions of the interleaved image), which the LUTs then reuse.
    planes = split_planes(src)
    valid = planes[:, :src.shape[0] * src.shape[1]]
    luts = [_autocontrast_lut_lohi(lo, hi)
            for lo, hi in zip(valid.min(axis=1).tolist(), valid.max(axis=1).tolist())]
    return restore(apply_channel_luts(src, luts, planes), img)


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
    return [luts[k] if step[k] else IDENTITY_LUT for k in range(len(step))]


def equalize(img: np.ndarray) -> np.ndarray:
    """PIL ``ImageOps.equalize(img)``, per channel."""
    img = check_u8(img)
    src = as_cv(img)
    if src.ndim == 2:
        luts = _equalize_luts(channel_histograms(src.reshape(1, -1), src.size))
        return restore(apply_channel_luts(src, luts), img)
    # split once: the planes serve both the histograms and the per-plane LUTs
    planes = split_planes(src)
    n = src.shape[0] * src.shape[1]
    luts = _equalize_luts(channel_histograms(planes, n))
    return restore(apply_channel_luts(src, luts, planes), img)


def invert(img: np.ndarray) -> np.ndarray:
    """PIL ``ImageOps.invert``: ``255 - x``."""
    img = check_u8(img)
    return restore(cv2.bitwise_not(as_cv(img)), img)


def solarize(img: np.ndarray, threshold: float) -> np.ndarray:
    """PIL ``ImageOps.solarize``: pixels ``>= threshold`` become ``255 - x``."""
    img = check_u8(img)
    first = math.ceil(float(threshold))  # smallest inverted value
    if first > 255:
        return img.copy()
    src = as_cv(img)
    if first <= 0:
        return restore(cv2.bitwise_not(src), img)
    # 255 - x == x ^ 255: xor with a 255 mask where x > first - 1.
    _, mask = cv2.threshold(src, first - 1, 255, cv2.THRESH_BINARY)
    return restore(cv2.bitwise_xor(src, mask), img)


def posterize(img: np.ndarray, bits: int) -> np.ndarray:
    """PIL ``ImageOps.posterize``: keep the top ``bits`` bits (``bits`` is floored)."""
    img = check_u8(img)
    bits = int(bits)
    if not 0 <= bits <= 8:
        raise ValueError(f'bits must be in [0, 8], got {bits}')
    mask = np.uint8((0xFF << (8 - bits)) & 0xFF)
    return np.bitwise_and(img, mask)


# --------------------------------------------------------------------------------------
# 'blend' ops (PIL's ImageEnhance)
# --------------------------------------------------------------------------------------
def brightness(img: np.ndarray, factor: float) -> np.ndarray:
    """PIL ``ImageEnhance.Brightness(img).enhance(factor)`` (blend with black)."""
    img = check_u8(img)
    if np.float32(factor) == 1.0:
        return img.copy()
    return apply_lut(img, blend_lut(0.0, factor))


def _gray_of(img: np.ndarray, channel_order: str) -> np.ndarray:
    if num_channels(img) == 1:
        return as_cv(img)
    return pil_luma(img, channel_order)


def contrast(img: np.ndarray, factor: float, *, channel_order: str = 'bgr') -> np.ndarray:
    """PIL ``ImageEnhance.Contrast(img).enhance(factor)``.

    Blends with a constant image at ``int(mean(L) + 0.5)``, ``L`` being PIL's luma image
    (the gray values themselves for gray input).
    """
    img = check_u8(img)
    check_channel_order(channel_order)
    gray = _gray_of(img, channel_order)
    total = int(round(cv2.sumElems(gray)[0]))  # exact: integer sum in float64
    mean = int(total / gray.size + 0.5)  # ImageStat: sum(i * h[i]) / count
    return apply_lut(img, blend_lut(mean, factor))


def color(img: np.ndarray, factor: float, *, channel_order: str = 'bgr') -> np.ndarray:
    """PIL ``ImageEnhance.Color(img).enhance(factor)``: blend with the luma image.

    Identity on gray images (PIL's degenerate image is the image itself).
    """
    img = check_u8(img)
    check_channel_order(channel_order)
    if num_channels(img) == 1 or np.float32(factor) == 1.0:
        return img.copy()
    gray = pil_luma(img, channel_order)
    degenerate = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    return blend_images(degenerate, np.ascontiguousarray(img), factor)


def sharpness(img: np.ndarray, factor: float) -> np.ndarray:
    """PIL ``ImageEnhance.Sharpness(img).enhance(factor)``.

    Blends with ``ImageFilter.SMOOTH`` (``SMOOTH_KERNEL / SMOOTH_DIVISOR``, 3x3
    ``[[1,1,1],[1,5,1],[1,1,1]] / 13`` rounded to nearest; PIL keeps the one-pixel border
    unfiltered).
    """
    img = check_u8(img)
    if np.float32(factor) == 1.0:
        return img.copy()
    src = as_cv(img)
    smooth = cv2.filter2D(src, -1, _SMOOTH_KERNEL, borderType=cv2.BORDER_REPLICATE)
    smooth[0] = src[0]
    smooth[-1] = src[-1]
    smooth[:, 0] = src[:, 0]
    smooth[:, -1] = src[:, -1]
    return restore(blend_images(smooth, src, factor), img)


# --------------------------------------------------------------------------------------
# cutout
# --------------------------------------------------------------------------------------
def cutout_box(height: int, width: int, side: float,
               center: Tuple[float, float]) -> Tuple[int, int, int, int]:
    """Pixel box ``(x0, y0, x1, y1)`` that Cutout fills: columns ``[x0, x1)`` and rows
    ``[y0, y1)`` (half-open, clipped to the image). ``(0, 0, 0, 0)`` when ``side <= 0``.

    The rule is :func:`dada_mm.ops.table.cutout_box_edges` (Fast AutoAugment's
    ``CutoutAbs`` drawn by PIL's ``ImageDraw.rectangle``), in Python numbers.
    """
    side = float(side)
    if side <= 0:
        return (0, 0, 0, 0)
    return cutout_box_edges(side, float(center[0]), float(center[1]), height, width,
                            math.floor, _at_least, _at_most)


def _at_least(t, lo):
    return max(lo, t)


def _at_most(t, hi):
    return min(hi, t)


def cutout(img: np.ndarray, side: float, center: Tuple[float, float], *,
           fill: Fill = CUTOUT_FILL_RGB) -> np.ndarray:
    """Fast AutoAugment ``CutoutAbs``: fill a ``side``-pixel square at ``center``.

    ``center = (cx, cy)`` are fractions in [0, 1) of the width / height (the caller draws
    them). ``fill`` is in the image's channel order (gray images use its first value).
    ``side <= 0`` returns a copy.
    """
    img = check_u8(img)
    out = np.array(img, order='C', copy=True)
    h, w = img.shape[:2]
    x0, y0, x1, y1 = cutout_box(h, w, side, center)
    if x1 > x0 and y1 > y0:
        vals = fill_values(fill, num_channels(img))
        # round half to even and saturate, as np.rint + clip (in Python: ~10x faster)
        colour = tuple(min(255, max(0, round(v))) for v in vals)
        # filled rectangle, inclusive corners, drawn in place on the (contiguous) copy
        cv2.rectangle(as_cv(out), (x0, y0), (x1 - 1, y1 - 1), colour, thickness=-1)
    return out


# --------------------------------------------------------------------------------------
# dispatch: op name -> small function of (img, value, OpArgs)
# --------------------------------------------------------------------------------------
class OpArgs(NamedTuple):
    """What :func:`apply_op` passes every op besides the image and its parameter."""
    center: Tuple[float, float]
    fill: Fill
    cutout_fill: Optional[Fill]
    interpolation: str
    channel_order: str


def _warp_op(name: str) -> Callable[[np.ndarray, float, OpArgs], np.ndarray]:
    """A geometric op: the warp by its table matrix (the same for every geometric op)."""
    def apply(img: np.ndarray, v: float, a: OpArgs) -> np.ndarray:
        return _geometric(img, name, v, a.fill, a.interpolation)
    return apply


def _cutout_op(img: np.ndarray, v: float, a: OpArgs) -> np.ndarray:
    img = np.asarray(img)
    fill = a.cutout_fill
    if fill is None:  # Fast AutoAugment's grey, in the image's order
        fill = fill_in_order(CUTOUT_FILL_RGB, num_channels(img), a.channel_order)
    return cutout(img, cutout_side(v, img.shape[1]), a.center, fill=fill)


_REGISTRY: Dict[str, Callable[[np.ndarray, float, OpArgs], np.ndarray]] = {
    **{op.name: _warp_op(op.name) for op in ops_of_kind('geometric')},
    'AutoContrast': lambda img, v, a: auto_contrast(img),
    'Invert': lambda img, v, a: invert(img),
    'Equalize': lambda img, v, a: equalize(img),
    'Solarize': lambda img, v, a: solarize(img, v),
    'Posterize': lambda img, v, a: posterize(img, int(v)),
    'Contrast': lambda img, v, a: contrast(img, v, channel_order=a.channel_order),
    'Color': lambda img, v, a: color(img, v, channel_order=a.channel_order),
    'Brightness': lambda img, v, a: brightness(img, v),
    'Sharpness': lambda img, v, a: sharpness(img, v),
    'Cutout': _cutout_op,
}
check_registry(_REGISTRY, 'dada_mm.ops.image_ops.OP_FUNCTIONS')
#: op name -> ``fn(img, value, OpArgs)``, in table order (what :func:`apply_op` calls)
OP_FUNCTIONS: Dict[str, Callable[[np.ndarray, float, OpArgs], np.ndarray]] = {
    name: _REGISTRY[name] for name in OP_NAMES}


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
    return OP_FUNCTIONS[name](img, value,
                              OpArgs(center, fill, cutout_fill, interpolation, channel_order))
