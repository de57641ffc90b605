"""The 15 DADA operations: names, level -> parameter mapping and geometric matrices.

This module is the single definition of the search space's semantics. The per-image
transform (``dada_mm.transforms``), the batched search ops (``dada_mm.search``) and the
detection geometry all read it, so a policy means the same thing everywhere.

Conventions (those of PIL, which the paper used):
* a level ``l`` in [0, 1] maps linearly to ``v = l * (high - low) + low``;
* ShearX/Y, TranslateX/Y and Rotate flip the sign of ``v`` with probability 0.5;
* geometric matrices map *output* pixel coordinates to *input* coordinates, in PIL's
  continuous frame (pixel ``(row i, col j)`` covers ``[j, j+1) x [i, i+1)``; its centre is
  ``(j + 0.5, i + 0.5)``); nearest-neighbour sampling reads input pixel
  ``floor(A @ (j + .5, i + .5, 1))``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

__all__ = [
    'OpSpec', 'OPS', 'OP_NAMES', 'OP_INDEX', 'GEOMETRIC_OPS', 'get_op',
    'level_to_value', 'scale_level', 'inverse_output_to_input_matrix',
    'CUTOUT_FILL_RGB',
]

#: Fill colour of the Cutout op in RGB order (Fast AutoAugment's ``CutoutAbs``).
CUTOUT_FILL_RGB: Tuple[int, int, int] = (125, 123, 114)


@dataclass(frozen=True)
class OpSpec:
    """One operation of the search space.

    ``identity_level`` is the level at which the op does nothing (None when no level
    does, e.g. Invert); it is the centre used by magnitude scaling.
    """
    index: int
    name: str
    low: float
    high: float
    kind: str  # 'geometric' | 'color' | 'cutout'
    random_sign: bool
    identity_level: Optional[float]
    uses_level: bool = True

    def value(self, level: float) -> float:
        """Unsigned parameter for ``level`` (clamped to [0, 1] as in the paper)."""
        level = min(max(float(level), 0.0), 1.0)
        return level * (self.high - self.low) + self.low


_OP_TABLE = (
    # index, name, low, high, kind, random_sign, identity_level, uses_level
    (0, 'ShearX', -0.3, 0.3, 'geometric', True, 0.5, True),
    (1, 'ShearY', -0.3, 0.3, 'geometric', True, 0.5, True),
    (2, 'TranslateX', -0.45, 0.45, 'geometric', True, 0.5, True),
    (3, 'TranslateY', -0.45, 0.45, 'geometric', True, 0.5, True),
    (4, 'Rotate', -30.0, 30.0, 'geometric', True, 0.5, True),
    (5, 'AutoContrast', 0.0, 1.0, 'color', False, None, False),
    (6, 'Invert', 0.0, 1.0, 'color', False, None, False),
    (7, 'Equalize', 0.0, 1.0, 'color', False, None, False),
    (8, 'Solarize', 0.0, 256.0, 'color', False, 1.0, True),
    (9, 'Posterize', 4.0, 8.0, 'color', False, 1.0, True),
    (10, 'Contrast', 0.1, 1.9, 'color', False, 0.5, True),
    (11, 'Color', 0.1, 1.9, 'color', False, 0.5, True),
    (12, 'Brightness', 0.1, 1.9, 'color', False, 0.5, True),
    (13, 'Sharpness', 0.1, 1.9, 'color', False, 0.5, True),
    (14, 'Cutout', 0.0, 0.2, 'cutout', False, 0.0, True),
)

OPS: Tuple[OpSpec, ...] = tuple(OpSpec(*row) for row in _OP_TABLE)
OP_NAMES: Tuple[str, ...] = tuple(op.name for op in OPS)
OP_INDEX: Dict[str, int] = {op.name: op.index for op in OPS}
GEOMETRIC_OPS = frozenset(op.name for op in OPS if op.kind == 'geometric')


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
    """3x3 matrix mapping output (x, y) to input (x, y) for a geometric op.

    ``value`` is the signed parameter (shear factor, translation as a fraction of the
    image size, rotation in degrees counter-clockwise). Matches PIL's
    ``Image.transform(AFFINE)`` / ``Image.rotate`` used by the paper.
    """
    m = np.eye(3, dtype=np.float64)
    if name == 'ShearX':
        m[0, 1] = value
    elif name == 'ShearY':
        m[1, 0] = value
    elif name == 'TranslateX':
        m[0, 2] = value * width
    elif name == 'TranslateY':
        m[1, 2] = value * height
    elif name == 'Rotate':
        # PIL: rotate counter-clockwise by `value` degrees about the image centre.
        theta = -math.radians(value)
        c, s = math.cos(theta), math.sin(theta)
        cx, cy = width / 2.0, height / 2.0
        m[0, :] = (c, s, c * -cx + s * -cy + cx)
        m[1, :] = (-s, c, -s * -cx + c * -cy + cy)
    else:
        raise KeyError(f'{name!r} is not a geometric op; geometric ops are: '
                       f'{", ".join(sorted(GEOMETRIC_OPS))}')
    return m
