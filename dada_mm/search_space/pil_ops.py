"""The 15 ops as the paper applied them, on PIL images (Fast AutoAugment's semantics).

This is the definition the numpy ops (``dada_mm.transforms.image_ops``) and the batched
device ops (``dada_mm.search.batched_ops``) reproduce; the tests compare both against it
and ``benchmarks/bench_augment.py`` times it as the PIL peer. Kept deliberately plain: one
PIL call per op, no speed tricks.
"""
from __future__ import annotations

from typing import Tuple

from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from .ops import CUTOUT_FILL_RGB

__all__ = ['pil_op']


def pil_op(img: Image.Image, name: str, value: float,
           center: Tuple[float, float] = (0.5, 0.5), fill: int = 0) -> Image.Image:
    """Apply op ``name`` with its signed parameter ``value`` (``level_to_value``) to an RGB
    or L image. ``center`` is Cutout's centre as fractions of (width, height), ``fill`` the
    geometric ops' out-of-bounds grey level (0: the paper's black)."""
    w, h = img.size
    v = value
    fc = fill if img.mode == 'L' else (fill,) * 3
    affine = {'ShearX': (1, v, 0, 0, 1, 0), 'ShearY': (1, 0, 0, v, 1, 0),
              'TranslateX': (1, 0, v * w, 0, 1, 0), 'TranslateY': (1, 0, 0, 0, 1, v * h)}
    if name in affine:
        return img.transform(img.size, Image.AFFINE, affine[name], Image.NEAREST,
                             fillcolor=fc)
    if name == 'Rotate':
        return img.rotate(v, fillcolor=fc)
    if name == 'AutoContrast':
        return ImageOps.autocontrast(img)
    if name == 'Invert':
        return ImageOps.invert(img)
    if name == 'Equalize':
        return ImageOps.equalize(img)
    if name == 'Solarize':
        return ImageOps.solarize(img, v)
    if name == 'Posterize':
        return ImageOps.posterize(img, int(v))
    if name == 'Contrast':
        return ImageEnhance.Contrast(img).enhance(v)
    if name == 'Color':
        return ImageEnhance.Color(img).enhance(v)
    if name == 'Brightness':
        return ImageEnhance.Brightness(img).enhance(v)
    if name == 'Sharpness':
        return ImageEnhance.Sharpness(img).enhance(v)
    if name == 'Cutout':  # CutoutAbs(v * width); identity for v <= 0
        side = v * w
        out = img.copy()
        if side <= 0:
            return out
        x0 = int(max(0, center[0] * w - side / 2.0))
        y0 = int(max(0, center[1] * h - side / 2.0))
        # PIL rejects an RGB colour on an L image; like image_ops, gray takes the first value
        colour = CUTOUT_FILL_RGB if img.mode == 'RGB' else CUTOUT_FILL_RGB[0]
        ImageDraw.Draw(out).rectangle((x0, y0, min(w, x0 + side), min(h, y0 + side)),
                                      colour)
        return out
    raise KeyError(f'{name!r} is not one of the 15 DADA ops')
