"""The 15 ops as the paper applied them, on PIL images (Fast AutoAugment's semantics).

This is the definition the numpy ops (``dada_mm.ops.image_ops``) and the batched
device ops (``dada_mm.ops.batched_ops``) reproduce; the tests compare both against it
and ``benchmarks/bench_augment.py`` times it as the PIL peer. Kept deliberately plain: one
PIL call per op (``PIL_OPS``, op name -> function), no speed tricks. Only the Cutout
colour comes from the op table; the pixel semantics are PIL's own.
"""
from __future__ import annotations

from typing import Callable, Dict, Tuple

from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from dada_mm.ops.table import CUTOUT_FILL_RGB, check_registry

__all__ = ['pil_op', 'PIL_OPS']

PilOp = Callable[[Image.Image, float, Tuple[float, float], int], Image.Image]


def _affine(coefficients: Callable[[float, int, int], tuple]) -> PilOp:
    """``Image.transform(AFFINE)`` with the (a, b, c, d, e, f) of ``coefficients(v, w,
    h)``, NEAREST, out-of-bounds ``fill``."""
    def apply(img, v, center, fill):
        fc = fill if img.mode == 'L' else (fill,) * 3
        return img.transform(img.size, Image.AFFINE, coefficients(v, *img.size),
                             Image.NEAREST, fillcolor=fc)
    return apply


def _rotate(img, v, center, fill):
    return img.rotate(v, fillcolor=fill if img.mode == 'L' else (fill,) * 3)


def _cutout(img, v, center, fill):
    """CutoutAbs(v * width); identity for v <= 0."""
    w, h = img.size
    side = v * w
    out = img.copy()
    if side <= 0:
        return out
    x0 = int(max(0, center[0] * w - side / 2.0))
    y0 = int(max(0, center[1] * h - side / 2.0))
    # PIL rejects an RGB colour on an L image; like image_ops, gray takes the first value
    colour = CUTOUT_FILL_RGB if img.mode == 'RGB' else CUTOUT_FILL_RGB[0]
    ImageDraw.Draw(out).rectangle((x0, y0, min(w, x0 + side), min(h, y0 + side)), colour)
    return out


PIL_OPS: Dict[str, PilOp] = {
    'ShearX': _affine(lambda v, w, h: (1, v, 0, 0, 1, 0)),
    'ShearY': _affine(lambda v, w, h: (1, 0, 0, v, 1, 0)),
    'TranslateX': _affine(lambda v, w, h: (1, 0, v * w, 0, 1, 0)),
    'TranslateY': _affine(lambda v, w, h: (1, 0, 0, 0, 1, v * h)),
    'Rotate': _rotate,
    'AutoContrast': lambda img, v, center, fill: ImageOps.autocontrast(img),
    'Invert': lambda img, v, center, fill: ImageOps.invert(img),
    'Equalize': lambda img, v, center, fill: ImageOps.equalize(img),
    'Solarize': lambda img, v, center, fill: ImageOps.solarize(img, v),
    'Posterize': lambda img, v, center, fill: ImageOps.posterize(img, int(v)),
    'Contrast': lambda img, v, center, fill: ImageEnhance.Contrast(img).enhance(v),
    'Color': lambda img, v, center, fill: ImageEnhance.Color(img).enhance(v),
    'Brightness': lambda img, v, center, fill: ImageEnhance.Brightness(img).enhance(v),
    'Sharpness': lambda img, v, center, fill: ImageEnhance.Sharpness(img).enhance(v),
    'Cutout': _cutout,
}
check_registry(PIL_OPS, 'dada_mm.testing.pil_ops.PIL_OPS')


def pil_op(img: Image.Image, name: str, value: float,
           center: Tuple[float, float] = (0.5, 0.5), fill: int = 0) -> Image.Image:
    """Apply op ``name`` with its signed parameter ``value`` (``level_to_value``) to an RGB
    or L image. ``center`` is Cutout's centre as fractions of (width, height), ``fill`` the
    geometric ops' out-of-bounds grey level (0: the paper's black)."""
    if name not in PIL_OPS:
        raise KeyError(f'{name!r} is not one of the 15 DADA ops')
    return PIL_OPS[name](img, value, center, fill)
