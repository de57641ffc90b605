"""The detection op family of Zoph et al. (2019): names, level -> parameter, matrices.

"Learning Data Augmentation Strategies for Object Detection" (arXiv:1906.11172) learned
policies v0-v3 over ops that also move the boxes (``*_BBox``) or act only inside each box
(``*_Only_BBoxes``). This module is the one statement of their semantics, a sibling of
:mod:`dada_mm.ops.table` (the 15-op DADA space), read by the per-image applier
(:mod:`dada_mm.ops.zoph_ops`) and the policy validation. Every constant was checked
against TensorFlow TPU ``models/official/detection/utils/autoaugment_utils.py``
(Apache-2.0), cited below as [TPU]. Levels, geometry, sign conventions and the pixels of
a box: docs/detection_policies.md, section "Semantics".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from .table import OP_NAMES, inverse_output_to_input_matrix

__all__ = [
    'DetOpSpec', 'DETECTION_OPS', 'DETECTION_OP_NAMES', 'DETECTION_ONLY_OP_NAMES',
    'DETECTION_FAMILY', 'DADA_FAMILY', 'OP_FAMILIES', 'MAX_LEVEL', 'REPLACE_FILL',
    'BOX_ONLY_PROB_DIVISOR', 'SOLARIZE_ADD_THRESHOLD', 'get_detection_op',
    'detection_value', 'detection_inverse_matrix',
]

#: the family names a policy's ``meta.op_family`` may take (absent means ``'dada'``)
DADA_FAMILY = 'dada'
DETECTION_FAMILY = 'zoph-detection'
OP_FAMILIES = (DADA_FAMILY, DETECTION_FAMILY)

#: [TPU] ``_MAX_LEVEL = 10.``
MAX_LEVEL = 10.0
#: [TPU] ``build_and_apply_nas_policy``: ``replace_value = [128, 128, 128]``, the fill of
#: every geometric op, Cutout, BBox_Cutout and the box-only ops (grey, RGB = BGR).
REPLACE_FILL = 128
#: [TPU] ``_scale_bbox_only_op_probability``: ``prob / 3.0`` per box.
BOX_ONLY_PROB_DIVISOR = 3.0
#: [TPU] ``solarize_add(image, addition=0, threshold=128)``.
SOLARIZE_ADD_THRESHOLD = 128


@dataclass(frozen=True)
class DetOpSpec:
    """One op of the detection family.

    ``kind``: 'geometric' (moves image and annotations by ``base``'s matrix), 'color'
    (whole-image pixel op), 'cutout' (whole-image square), 'bbox_cutout' (a square inside
    one random box), 'box_only' (``base`` applied inside each box, annotations
    unchanged). ``base`` names the image operation (a DADA op name where one exists, or
    'Flip' / 'SolarizeAdd'). ``identity_level`` (a magnitude in [0, 1]) is where the op
    does nothing; None when no level does (used by ``magnitude_scale``).
    """
    name: str
    kind: str
    base: str
    scale: float
    offset: float
    integer: bool
    random_sign: bool
    box_only: bool
    identity_level: Optional[float]

    def value(self, magnitude: float) -> float:
        """Unsigned parameter at ``magnitude`` (clamped to [0, 1]), as [TPU] computes it."""
        level = min(max(float(magnitude), 0.0), 1.0) * MAX_LEVEL
        v = (level / MAX_LEVEL) * self.scale + self.offset
        return float(int(v)) if self.integer else v


_ENHANCE = (1.8, 0.1)  # [TPU] _enhance_level_to_arg: (level / 10) * 1.8 + 0.1

# name, kind, base, scale, offset, integer, random_sign, box_only, identity
# (parameter = (level / 10) * scale + offset; [TPU] function in the comment)
_DETECTION_TABLE = (
    # --- whole-image colour ops (no annotation change) -------------------------------
    ('AutoContrast', 'color', 'AutoContrast', 0, 0, False, False, False, None),
    ('Equalize', 'color', 'Equalize', 0, 0, False, False, False, None),
    # level_to_arg: Posterize bits = int((level / 10) * 4) (0..4); posterize shifts by
    # 8 - bits, which TensorFlow's kernels clamp to 7: 0 bits acts as 1 bit (x & 0x80)
    ('Posterize', 'color', 'Posterize', 4, 0, True, False, False, None),
    # level_to_arg: Solarize threshold = int((level / 10) * 256); solarize: x >= t -> 255-x
    ('Solarize', 'color', 'Solarize', 256, 0, True, False, False, 1.0),
    # level_to_arg: addition = int((level / 10) * 110); solarize_add: x < 128 -> x + a
    ('SolarizeAdd', 'color', 'SolarizeAdd', 110, 0, True, False, False, 0.0),
    # _enhance_level_to_arg: factor = (level / 10) * 1.8 + 0.1 (PIL ImageEnhance blends).
    # Deviation: [TPU] contrast blends towards a constant sum(histogram) / 256, i.e. the
    # pixel count / 256 clipped to 255 (white for any image over 65280 pixels), not the
    # mean grey level; here Contrast is PIL's (mean grey level, as mmdet's Contrast),
    # so it differs from [TPU] on most images. Color, Brightness and Sharpness are
    # PIL's, which [TPU] reimplements (equal up to rounding)
    ('Color', 'color', 'Color', *_ENHANCE, False, False, False, 0.5),
    ('Contrast', 'color', 'Contrast', *_ENHANCE, False, False, False, 0.5),
    ('Brightness', 'color', 'Brightness', *_ENHANCE, False, False, False, 0.5),
    ('Sharpness', 'color', 'Sharpness', *_ENHANCE, False, False, False, 0.5),
    # --- cutouts -------------------------------------------------------------------
    # level_to_arg: pad_size = int((level / 10) * cutout_const=100); cutout: a
    # 2 pad x 2 pad square (clipped) at a uniform integer centre, filled with 128
    ('Cutout', 'cutout', 'Cutout', 100, 0, True, False, False, 0.0),
    # _bbox_cutout_level_to_arg: pad_fraction = (level / 10) * cutout_max_pad_fraction
    # = 0.75; bbox_cutout: one uniformly chosen box, see zoph_ops.bbox_cutout_region
    ('BBox_Cutout', 'bbox_cutout', 'Cutout', 0.75, 0, False, False, False, 0.0),
    # --- whole-image geometric ops that move the boxes -------------------------------
    # _rotate_level_to_arg: degrees = (level / 10) * 30, random sign
    ('Rotate_BBox', 'geometric', 'Rotate', 30, 0, False, True, False, 0.0),
    # _shear_level_to_arg: shear = (level / 10) * 0.3, random sign
    ('ShearX_BBox', 'geometric', 'ShearX', 0.3, 0, False, True, False, 0.0),
    ('ShearY_BBox', 'geometric', 'ShearY', 0.3, 0, False, True, False, 0.0),
    # _translate_level_to_arg(level, translate_const=250): pixels, random sign
    ('TranslateX_BBox', 'geometric', 'TranslateX', 250, 0, False, True, False, 0.0),
    ('TranslateY_BBox', 'geometric', 'TranslateY', 250, 0, False, True, False, 0.0),
    # --- box-only ops: base op on each box's crop with prob / 3, boxes unchanged -------
    ('Rotate_Only_BBoxes', 'box_only', 'Rotate', 30, 0, False, True, True, 0.0),
    ('ShearX_Only_BBoxes', 'box_only', 'ShearX', 0.3, 0, False, True, True, 0.0),
    ('ShearY_Only_BBoxes', 'box_only', 'ShearY', 0.3, 0, False, True, True, 0.0),
    # _translate_level_to_arg(level, translate_bbox_const=120)
    ('TranslateX_Only_BBoxes', 'box_only', 'TranslateX', 120, 0, False, True, True, 0.0),
    ('TranslateY_Only_BBoxes', 'box_only', 'TranslateY', 120, 0, False, True, True, 0.0),
    # flip_only_bboxes: tf.image.flip_left_right of the crop (no level)
    ('Flip_Only_BBoxes', 'box_only', 'Flip', 0, 0, False, False, True, None),
    ('Solarize_Only_BBoxes', 'box_only', 'Solarize', 256, 0, True, False, True, 1.0),
    ('Equalize_Only_BBoxes', 'box_only', 'Equalize', 0, 0, False, False, True, None),
    # level_to_arg: pad_size = int((level / 10) * cutout_bbox_const=50), inside the crop
    ('Cutout_Only_BBoxes', 'box_only', 'Cutout', 50, 0, True, False, True, 0.0),
)

DETECTION_OPS: Tuple[DetOpSpec, ...] = tuple(DetOpSpec(*row) for row in _DETECTION_TABLE)
DETECTION_OP_NAMES: Tuple[str, ...] = tuple(op.name for op in DETECTION_OPS)
_BY_NAME: Dict[str, DetOpSpec] = {op.name: op for op in DETECTION_OPS}


#: names that exist only in the detection family: an inline policy using any of them is a
#: detection policy (the shared names, e.g. Color or Cutout, default to the DADA family)
DETECTION_ONLY_OP_NAMES = frozenset(DETECTION_OP_NAMES) - frozenset(OP_NAMES)


def get_detection_op(name: str) -> DetOpSpec:
    """Look a detection-family op up by name; unknown names list the valid ones."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise KeyError(f'unknown op {name!r} in the {DETECTION_FAMILY!r} family; valid '
                       f'ops are: {", ".join(DETECTION_OP_NAMES)}') from None


def detection_value(name: str, magnitude: float, sign: float = 1.0) -> float:
    """Signed parameter of ``name`` at ``magnitude``; ``sign`` only acts on signed ops."""
    op = get_detection_op(name)
    v = op.value(magnitude)
    return v * sign if op.random_sign else v


def detection_inverse_matrix(base: str, value: float, height: int,
                             width: int) -> np.ndarray:
    """Output -> input 3x3 matrix of a geometric base op on a ``height x width`` image
    (or box crop). Translations are in absolute pixels ([TPU]); shears and rotations are
    the DADA matrices (rotation about the centre of the image or crop)."""
    m = np.eye(3, dtype=np.float64)
    if base == 'TranslateX':
        m[0, 2] = value
        return m
    if base == 'TranslateY':
        m[1, 2] = value
        return m
    if base in ('ShearX', 'ShearY', 'Rotate'):
        return inverse_output_to_input_matrix(base, value, height, width)
    raise KeyError(f'{base!r} has no matrix; geometric base ops are: TranslateX, '
                   'TranslateY, ShearX, ShearY, Rotate')

