"""`ZophDetectionAugment`: the learned detection policies of Zoph et al. in mmdet pipelines.

``DADAAugment(policy='zoph-det-v0')`` builds this transform and hands each image to it,
so one config key serves both families; ``ZophDetectionAugment`` is also registered
under its own name for configs that want to say which family they use (it refuses DADA
policies). Semantics ([TPU] = TensorFlow TPU ``autoaugment_utils.py``, the published
implementation; the op table is :mod:`dada_mm.ops.detection_ops`):

* one sub-policy drawn uniformly per image (``select_and_apply_random_policy``; by the
  policy's ``weights`` when a search exported them); its ops
  in order, each applied with its ``prob`` (``_apply_func_with_prob``);
* a box-only op (``*_Only_BBoxes``) is always entered and then changes each box with
  probability ``prob / 3`` (``_apply_multi_bbox_augmentation``: ``prob`` is forced to 1
  for the op, ``_scale_bbox_only_op_probability`` divides the per-box one), visiting the
  boxes in a random order with one sign for all of them; it changes the pixels whose
  centres lie in the box (``image[y1:y2, x1:x2]`` for integer coordinates, not [TPU]'s
  inclusive indices, which reach one row and column past the box:
  :mod:`~dada_mm.ops.zoph_ops`);
* ``*_BBox`` ops move image, ``gt_bboxes``, ``gt_masks`` and ``gt_seg_map`` by their
  matrix through :func:`~dada_mm.transforms.annotations.warp_annotations` (boxes are
  projected and clipped as mmdet's ``GeomTransform`` does and never dropped: put a
  ``FilterAnnotations`` after this transform). [TPU] instead truncates box corners to
  integer pixels and gives a box squashed to zero height / width on the image border a
  5% extent (``_check_bbox_area``: ``max >= 0.05``, ``min <= 0.95``); neither is
  reproduced.

Masks and box-only ops
----------------------
Box-only ops leave every annotation as it was (boxes, labels, ignore flags, masks, seg
maps): the published op treats the distortion of a box's content as noise inside an
unchanged label (``func_changes_bbox=False``), and moving masks but not boxes would make
the two disagree. Cutout, BBox_Cutout and colour ops leave annotations unchanged too.

Randomness comes from ``numpy.random`` (MMEngine seeding repeats a run). Per call, in
order: the sub-policy index; four uniforms per op (apply, sign, centre y, centre x); then
for each applied op that needs them: BBox_Cutout three more (box, centre y, centre x), a
box-only op on ``n > 0`` boxes a permutation of ``n``, ``n`` apply uniforms and, for
Cutout_Only_BBoxes, ``n x 2`` centre uniforms.
"""
from __future__ import annotations

import functools
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.registry import TRANSFORMS

from ..ops import image_ops, zoph_ops
from ..ops.detection_ops import (
    BOX_ONLY_PROB_DIVISOR,
    DETECTION_FAMILY,
    REPLACE_FILL,
    detection_inverse_matrix,
    detection_value,
    get_detection_op,
)
from ..ops.table import scale_level
from ..policy import resolve_policy
from .annotations import move_with_image
from .options import (
    as_fill,
    check_image,
    check_options,
    draw_cdf,
    draw_sub_policy,
    fill_in_image_order,
    image_of,
)

__all__ = ['ZophDetectionAugment', 'apply_detection_op']


@functools.lru_cache(maxsize=2048)
def _matrices(base: str, value: float, height: int, width: int
              ) -> Tuple[np.ndarray, np.ndarray]:
    """(output -> input, input -> output) of a geometric op, cached read-only."""
    inverse = detection_inverse_matrix(base, value, height, width)
    forward = np.linalg.inv(inverse)
    inverse.flags.writeable = False
    forward.flags.writeable = False
    return inverse, forward


def _boxes_array(boxes: Any) -> np.ndarray:
    """``(N, 4)`` float64 copy of mmdet ``BaseBoxes`` or a numpy ``(N, 4)`` array."""
    if hasattr(boxes, 'tensor'):
        arr = boxes.tensor.detach().cpu().numpy()
    elif isinstance(boxes, np.ndarray):
        arr = boxes
    else:
        raise TypeError(f"ZophDetectionAugment: results['gt_bboxes'] must be mmdet "
                        f'BaseBoxes or an (N, 4) numpy array, got {type(boxes).__name__}')
    arr = np.asarray(arr, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"ZophDetectionAugment: results['gt_bboxes'] must be (N, 4) "
                         f'horizontal boxes, got shape {arr.shape}')
    return arr


def _warp(results: Dict, img: np.ndarray, base: str, value: float, fill,
          interpolation: str, channel_order: str) -> np.ndarray:
    """Warp the image and move the annotations; record the homography."""
    height, width = img.shape[:2]
    inverse, forward = _matrices(base, float(value), height, width)
    fill = fill_in_image_order(fill, img, channel_order)
    out = image_ops.warp_affine(img, inverse, fill=fill, interpolation=interpolation)
    move_with_image(results, forward, (height, width), interpolation=interpolation)
    return out


def apply_detection_op(results: Dict, img: np.ndarray, name: str, prob: float, level: float,
                       sign: float, center_u: Tuple[float, float], *, fill, cutout_fill,
                       interpolation: str = 'nearest', channel_order: str = 'bgr',
                       rng=np.random) -> Tuple[np.ndarray, bool]:
    """One detection-family op, entered (its ``prob`` already drawn, except a box-only
    op's per-box ``prob / 3``): the image, and whether it changed. A geometric op moves
    ``results``' annotations; BBox_Cutout and the box-only ops read ``results['gt_bboxes']``
    and draw from ``rng`` (``numpy.random`` or a ``RandomState``: ``rand``,
    ``permutation``), in the order the module docstring gives."""
    spec = get_detection_op(name)
    value = detection_value(name, level, sign)
    if spec.kind == 'geometric':
        return _warp(results, img, spec.base, value, fill, interpolation, channel_order), True
    if spec.kind == 'color':
        return zoph_ops.colour_op(img, spec.base, value, channel_order), True
    cutout_fill = fill_in_image_order(cutout_fill, img, channel_order)
    if spec.kind == 'cutout':
        return zoph_ops.cutout_square(img, int(value), center_u, cutout_fill), True
    boxes = _boxes_array(results['gt_bboxes'])
    if len(boxes) == 0:
        return img, False
    h, w = img.shape[:2]
    if spec.kind == 'bbox_cutout':
        u_box, u_y, u_x = rng.rand(3).tolist()
        box = boxes[min(int(u_box * len(boxes)), len(boxes) - 1)]
        region = zoph_ops.bbox_cutout_region(box, value, (u_y, u_x), h, w)
        out = np.array(img, copy=True)
        return zoph_ops.fill_region(out, region, cutout_fill), True
    # box-only: each box with prob / 3, in a random order, one sign for all
    order = rng.permutation(len(boxes))
    applied = rng.rand(len(boxes)) < prob / BOX_ONLY_PROB_DIVISOR
    centers = rng.rand(len(boxes), 2) if spec.base == 'Cutout' else None
    fill = (cutout_fill if spec.base == 'Cutout' else
            fill_in_image_order(fill, img, channel_order))
    out, changed = zoph_ops.apply_in_boxes(img, boxes, spec.base, value, order, applied,
                                           centers, fill, interpolation)
    return out, changed > 0


@TRANSFORMS.register_module()
class ZophDetectionAugment(BaseTransform):
    """Apply a detection-family policy (``zoph-det-v0`` ... ``v3``, a file or a list).

    Args:
        policy: a preset (``'zoph-det-v0'``, ...), a policy file whose ``meta.op_family``
            is ``'zoph-detection'``, or an inline list (validated against the detection
            table; ``magnitude`` = published level / 10).
        top_k: use only the first ``top_k`` sub-policies.
        weighted: draw the sub-policies by the policy's ``weights`` when it has them
            (renormalised over the first ``top_k``); False draws each with equal chance.
        magnitude_scale: scales each op's strength about its identity level; ops with
            none (AutoContrast, Equalize, Posterize, Flip_Only_BBoxes,
            Equalize_Only_BBoxes) are unchanged.
        fill: fill of the geometric ops (whole image and inside boxes), int or (R, G, B);
            default [TPU]'s grey 128.
        cutout_fill: fill of Cutout, BBox_Cutout and Cutout_Only_BBoxes; default 128.
        interpolation: of the warps: 'nearest' ([TPU]'s), 'bilinear' or 'bicubic'.
        channel_order: of the images ('bgr' as OpenMMLab loads); Color and Contrast use
            it for the luma image.
    """

    def __init__(self,
                 policy: Union[str, Sequence, Dict] = 'zoph-det-v0',
                 top_k: Optional[int] = None,
                 weighted: bool = True,
                 magnitude_scale: float = 1.0,
                 fill: Union[None, int, Sequence[int]] = None,
                 cutout_fill: Union[None, int, Sequence[int]] = None,
                 interpolation: str = 'nearest',
                 channel_order: str = 'bgr') -> None:
        doc = resolve_policy(policy, op_family=DETECTION_FAMILY)
        sub_policies = check_options(doc['sub_policies'], top_k, magnitude_scale,
                                     interpolation, channel_order)
        self._cdf = draw_cdf(doc, top_k, weighted)
        self.policy_meta = doc['meta']
        self.sub_policies = sub_policies
        self.top_k, self.weighted = top_k, weighted
        #: each sub-policy's chance of being drawn (None: equal chances)
        self.weights = None if self._cdf is None else np.diff(self._cdf, prepend=0.0)
        self.magnitude_scale = float(magnitude_scale)
        self.fill = as_fill(REPLACE_FILL if fill is None else fill, 'fill')
        self.cutout_fill = as_fill(REPLACE_FILL if cutout_fill is None else cutout_fill,
                                    'cutout_fill')
        self.interpolation = interpolation
        self.channel_order = channel_order
        self._scaled_sub_policies: List[List[Tuple[str, float, float]]] = [
            [(op['op'], op['prob'], scale_level(get_detection_op(op['op']),
                                                op['magnitude'], self.magnitude_scale))
             for op in sub] for sub in sub_policies]
        #: ops that read the boxes: results without 'gt_bboxes' are refused
        self.box_ops = sorted({name for sub in self._scaled_sub_policies for name, _, _ in sub
                               if get_detection_op(name).kind in ('box_only',
                                                                  'bbox_cutout')})

    # -- helpers ---------------------------------------------------------------------
    def _apply(self, results: Dict, img: np.ndarray, name: str, prob: float,
               level: float, sign: float, center_u: Tuple[float, float]
               ) -> Tuple[np.ndarray, bool]:
        return apply_detection_op(results, img, name, prob, level, sign, center_u,
                                  fill=self.fill, cutout_fill=self.cutout_fill,
                                  interpolation=self.interpolation,
                                  channel_order=self.channel_order, rng=np.random)

    # -- transform -------------------------------------------------------------------
    def transform(self, results: Dict) -> Dict:
        img = check_image(image_of(results, 'ZophDetectionAugment'), 'ZophDetectionAugment',
                          (1, 3))
        if self.box_ops and results.get('gt_bboxes') is None:
            raise ValueError(
                f"ZophDetectionAugment: the policy's box ops ({', '.join(self.box_ops)}) "
                f"need results['gt_bboxes'], which is missing; load boxes first "
                f"(LoadAnnotations(with_bbox=True)) or use a policy without box ops")
        index = draw_sub_policy(len(self._scaled_sub_policies), self._cdf)
        sub = self._scaled_sub_policies[index]
        u = np.random.rand(4 * len(sub)).tolist()
        applied = []
        for j, (name, prob, level) in enumerate(sub):
            apply_u, sign_u, cy_u, cx_u = u[4 * j:4 * j + 4]
            box_only = get_detection_op(name).box_only
            if not box_only and apply_u >= prob:  # box-only ops draw per box instead
                continue
            img, changed = self._apply(results, img, name, prob, level,
                                       1.0 if sign_u < 0.5 else -1.0, (cy_u, cx_u))
            if changed:
                applied.append(name)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['dada_sub_policy'] = index
        results['dada_applied_ops'] = applied
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_sub_policies={len(self.sub_policies)}, '
                f'top_k={self.top_k}, weighted={self.weights is not None}, '
                f'magnitude_scale={self.magnitude_scale}, '
                f'fill={self.fill}, cutout_fill={self.cutout_fill}, '
                f'interpolation={self.interpolation!r}, '
                f'channel_order={self.channel_order!r})')
