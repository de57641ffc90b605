"""The 15 DADA operations: the op table, the level -> parameter map and every constant.

This module is the single definition of the search space's semantics. The per-image
applier (``dada_mm.ops.image_ops``), the batched search applier
(``dada_mm.ops.batched_ops``) and the detection geometry all read it, so a policy
means the same thing everywhere. Each op is one row of ``_OP_TABLE``: its index, name,
parameter range, kind, sign rule, identity level and (geometric ops) its matrix formula.
Both appliers are registries keyed by op name (one small function per op), checked
against ``OP_NAMES`` by :func:`check_registry` when they are imported; nothing outside
this table names an op or its index to decide what to do.

Kinds (``OpSpec.kind``, one of ``OP_KINDS``):

* ``'geometric'``: an affine warp (ShearX/Y, TranslateX/Y, Rotate), its matrix stated
  here once (``OpSpec.affine``) and evaluated by numpy and torch alike;
* ``'lut'``: a per-value map of the pixel values (AutoContrast, Invert, Equalize,
  Solarize, Posterize), piecewise constant in the level;
* ``'blend'``: PIL's ``ImageEnhance``, ``Image.blend(degenerate, img, factor)``
  (Contrast, Color, Brightness, Sharpness), whose factor is linear in the level;
* ``'cutout'``: Fast AutoAugment's ``CutoutAbs`` square (``cutout_box_edges``).

Conventions (those of PIL, which the paper used):

* a level ``l`` in [0, 1] maps linearly to ``v = l * (high - low) + low``;
* ops with ``random_sign`` flip the sign of ``v`` with probability 0.5;
* geometric matrices map *output* pixel coordinates to *input* coordinates, in PIL's
  continuous frame (pixel ``(row i, col j)`` covers ``[j, j+1) x [i, i+1)``; its centre is
  ``(j + 0.5, i + 0.5)``); nearest-neighbour sampling reads input pixel
  ``floor(A @ (j + .5, i + .5, 1))``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Collection, Dict, NamedTuple, Optional, Tuple

import numpy as np

__all__ = [
    'OpSpec', 'OPS', 'OP_NAMES', 'OP_INDEX', 'OP_KINDS', 'GEOMETRIC_OPS', 'get_op',
    'ops_of_kind', 'check_registry', 'level_to_value', 'scale_level',
    'inverse_output_to_input_matrix', 'MatrixMath', 'PY_MATRIX_MATH', 'CUTOUT_FILL_RGB',
    'LUMA_WEIGHTS_RGB', 'LUMA_SHIFT', 'SMOOTH_KERNEL', 'SMOOTH_DIVISOR', 'blend',
    'cutout_side', 'cutout_box_edges',
]

OP_KINDS: Tuple[str, ...] = ('geometric', 'lut', 'blend', 'cutout')

#: Fill colour of the Cutout op in RGB order (Fast AutoAugment's ``CutoutAbs``).
CUTOUT_FILL_RGB: Tuple[int, int, int] = (125, 123, 114)

#: PIL's RGB -> L weights (ITU-R 601-2 in fixed point, summing to ``2 ** LUMA_SHIFT``):
#: ``L = (R * 19595 + G * 38470 + B * 7471 + 2 ** 15) >> 16`` (Contrast and Color).
LUMA_WEIGHTS_RGB: Tuple[int, int, int] = (19595, 38470, 7471)
LUMA_SHIFT = 16

#: PIL ``ImageFilter.SMOOTH`` (Sharpness' degenerate image): the 3x3 kernel over its
#: divisor, rounded to nearest; PIL keeps the one-pixel border unfiltered.
SMOOTH_KERNEL: Tuple[Tuple[int, int, int], ...] = ((1, 1, 1), (1, 5, 1), (1, 1, 1))
SMOOTH_DIVISOR = 13


class MatrixMath(NamedTuple):
    """The functions a matrix formula (``OpSpec.affine``) may call, so that one formula
    serves Python floats (:data:`PY_MATRIX_MATH`) and torch tensors alike."""
    radians: Callable
    cos: Callable
    sin: Callable


PY_MATRIX_MATH = MatrixMath(math.radians, math.cos, math.sin)

# Matrix formulas: (signed value, height, width, MatrixMath) -> the six entries
# (a0, a1, a2, a3, a4, a5) of the output -> input matrix [[a0, a1, a2], [a3, a4, a5],
# [0, 0, 1]]. ``value`` is the shear factor, the translation as a fraction of the image
# size, or the rotation in degrees counter-clockwise; the matrices are those of PIL's
# ``Image.transform(AFFINE)`` / ``Image.rotate`` used by the paper. Entries that are
# Python numbers are constants of the op (the torch applier reads a translation's
# zero shear terms off them: PIL takes its scaling path for such matrices).


def _shear_x_matrix(v, height, width, m):
    return (1.0, v, 0.0, 0.0, 1.0, 0.0)


def _shear_y_matrix(v, height, width, m):
    return (1.0, 0.0, 0.0, v, 1.0, 0.0)


def _translate_x_matrix(v, height, width, m):
    return (1.0, 0.0, v * width, 0.0, 1.0, 0.0)


def _translate_y_matrix(v, height, width, m):
    return (1.0, 0.0, 0.0, 0.0, 1.0, v * height)


def _rotate_matrix(v, height, width, m):
    # PIL: rotate counter-clockwise by `v` degrees about the image centre.
    theta = -m.radians(v)
    c, s = m.cos(theta), m.sin(theta)
    cx, cy = width / 2.0, height / 2.0
    return (c, s, c * -cx + s * -cy + cx, -s, c, -s * -cx + c * -cy + cy)


@dataclass(frozen=True)
class OpSpec:
    """One operation of the search space (one row of the op table).

    ``identity_level`` is the level at which the op does nothing (None when no level
    does, e.g. Invert); it is the centre used by magnitude scaling. ``affine`` is the
    matrix formula of a geometric op (None for the other kinds).
    """
    index: int
    name: str
    low: float
    high: float
    kind: str  # one of OP_KINDS
    random_sign: bool
    identity_level: Optional[float]
    affine: Optional[Callable] = None

    def __post_init__(self):
        if self.kind not in OP_KINDS:
            raise ValueError(f'op {self.name!r}: kind must be one of {OP_KINDS}, '
                             f'got {self.kind!r}')
        if (self.kind == 'geometric') != (self.affine is not None):
            raise ValueError(f'op {self.name!r}: geometric ops, and only they, need a '
                             'matrix formula')

    def linear(self, level):
        """``level * (high - low) + low`` for an already clamped level: a float or a
        tensor (the one statement of the map, for both appliers)."""
        return level * (self.high - self.low) + self.low

    def value(self, level: float) -> float:
        """Unsigned parameter for ``level`` (clamped to [0, 1] as in the paper)."""
        return self.linear(min(max(float(level), 0.0), 1.0))


_OP_TABLE = (
    # index, name, low, high, kind, random_sign, identity_level, matrix formula
    (0, 'ShearX', -0.3, 0.3, 'geometric', True, 0.5, _shear_x_matrix),
    (1, 'ShearY', -0.3, 0.3, 'geometric', True, 0.5, _shear_y_matrix),
    (2, 'TranslateX', -0.45, 0.45, 'geometric', True, 0.5, _translate_x_matrix),
    (3, 'TranslateY', -0.45, 0.45, 'geometric', True, 0.5, _translate_y_matrix),
    (4, 'Rotate', -30.0, 30.0, 'geometric', True, 0.5, _rotate_matrix),
    (5, 'AutoContrast', 0.0, 1.0, 'lut', False, None),
    (6, 'Invert', 0.0, 1.0, 'lut', False, None),
    (7, 'Equalize', 0.0, 1.0, 'lut', False, None),
    (8, 'Solarize', 0.0, 256.0, 'lut', False, 1.0),
    (9, 'Posterize', 4.0, 8.0, 'lut', False, 1.0),
    (10, 'Contrast', 0.1, 1.9, 'blend', False, 0.5),
    (11, 'Color', 0.1, 1.9, 'blend', False, 0.5),
    (12, 'Brightness', 0.1, 1.9, 'blend', False, 0.5),
    (13, 'Sharpness', 0.1, 1.9, 'blend', False, 0.5),
    (14, 'Cutout', 0.0, 0.2, 'cutout', False, 0.0),
)

OPS: Tuple[OpSpec, ...] = tuple(OpSpec(*row) for row in _OP_TABLE)
OP_NAMES: Tuple[str, ...] = tuple(op.name for op in OPS)
OP_INDEX: Dict[str, int] = {op.name: op.index for op in OPS}
assert all(op.index == i for i, op in enumerate(OPS)), 'op indices must be 0, 1, ...'
GEOMETRIC_OPS = frozenset(op.name for op in OPS if op.kind == 'geometric')
_AFFINE: Dict[str, Callable] = {op.name: op.affine for op in OPS if op.kind == 'geometric'}


def get_op(name: str) -> OpSpec:
    """Look an op up by name; unknown names list the valid ones."""
    try:
        return OPS[OP_INDEX[name]]
    except (KeyError, TypeError):
        from .detection_ops import DETECTION_ONLY_OP_NAMES  # sibling family (lazy: cycle)
        hint = (f' ({name!r} is an op of the zoph-detection family, which the 15-op DADA '
                'space does not contain)' if name in DETECTION_ONLY_OP_NAMES else '')
        raise KeyError(f'unknown op {name!r}; valid ops are: '
                       f'{", ".join(OP_NAMES)}{hint}') from None


def ops_of_kind(kind: str) -> Tuple[OpSpec, ...]:
    """The ops of one kind (one of ``OP_KINDS``), in table order."""
    if kind not in OP_KINDS:
        raise ValueError(f'kind must be one of {OP_KINDS}, got {kind!r}')
    return tuple(op for op in OPS if op.kind == kind)


def check_registry(registry: Collection[str], owner: str) -> None:
    """Raise unless ``registry`` (an applier's op names) is exactly ``OP_NAMES``."""
    missing = [name for name in OP_NAMES if name not in registry]
    extra = sorted(set(registry) - set(OP_NAMES))
    if missing or extra:
        raise RuntimeError(f'{owner} must implement exactly the ops of the op table; '
                           f'missing: {missing}, unknown: {extra}')


def scale_level(op: OpSpec, level: float, scale: float) -> float:
    """Scale an op's strength about its identity level (``scale=1`` is a no-op).

    Ops with no identity level (AutoContrast, Invert, Equalize) ignore the level and are
    returned unchanged.
    """
    if scale == 1.0 or op.identity_level is None:
        return level
    scaled = op.identity_level + scale * (level - op.identity_level)
    return min(max(scaled, 0.0), 1.0)


def level_to_value(name: str, level: float, sign: float = 1.0) -> float:
    """Signed parameter of op ``name`` at ``level``; ``sign`` only applies to signed ops."""
    op = get_op(name)
    v = op.value(level)
    return v * sign if op.random_sign else v


def inverse_output_to_input_matrix(name: str, value: float, height: int,
                                   width: int) -> np.ndarray:
    """3x3 float64 matrix mapping output (x, y) to input (x, y) for a geometric op.

    ``value`` is the signed parameter (shear factor, translation as a fraction of the
    image size, rotation in degrees counter-clockwise): the op's matrix formula of the
    table, evaluated with Python's ``math``. Matches PIL's ``Image.transform(AFFINE)`` /
    ``Image.rotate`` used by the paper.
    """
    formula = _AFFINE.get(name) if isinstance(name, str) else None
    if formula is None:
        raise KeyError(f'{name!r} is not a geometric op; geometric ops are: '
                       f'{", ".join(sorted(GEOMETRIC_OPS))}')
    a = formula(value, height, width, PY_MATRIX_MATH)
    return np.array((a[:3], a[3:], (0.0, 0.0, 1.0)), dtype=np.float64)


def blend(degenerate, image, factor):
    """PIL's ``Image.blend(degenerate, image, factor)`` before clipping to [0, 255] and
    truncating (``ImagingBlend``: ``in1 + alpha * (in2 - in1)``, in float32 with a C float
    ``alpha``): the map of the blend ops, on floats, arrays or tensors."""
    return degenerate + factor * (image - degenerate)


def cutout_side(value, width):
    """Side in pixels of Fast AutoAugment's ``CutoutAbs(v * width)``: the Cutout
    parameter times the image width (a float or a tensor)."""
    return value * width


def cutout_box_edges(side, cx, cy, height: int, width: int, floor, at_least, at_most):
    """Pixel box ``(x0, y0, x1, y1)`` that Cutout fills for ``side > 0``: columns
    ``[x0, x1)`` and rows ``[y0, y1)`` (half-open, clipped to the image). A ``side <= 0``
    fills nothing (Fast AutoAugment's ``Cutout`` returns the image before drawing).

    ``(cx, cy)`` are the centre as fractions of the width / height. Fast AutoAugment's
    ``CutoutAbs`` computes ``x0 = int(max(0, cx*w - side/2))``, ``x1 = min(w, x0 +
    side)`` (a float) and draws ``ImageDraw.rectangle((x0, y0, x1, y1))``, whose corners
    PIL truncates to int and treats as *inclusive*: the filled columns are ``x0 ..
    int(x1)``, clipped to ``w - 1``.

    The one statement of the rule for both appliers: ``floor(t)``, ``at_least(t, lo)``
    and ``at_most(t, hi)`` are Python's (floats) or torch's (tensors).
    """
    x0 = floor(at_least(cx * width - side / 2.0, 0.0))
    y0 = floor(at_least(cy * height - side / 2.0, 0.0))
    x1 = at_most(floor(at_most(x0 + side, width)) + 1, width)
    y1 = at_most(floor(at_most(y0 + side, height)) + 1, height)
    return at_most(x0, width), at_most(y0, height), x1, y1
