"""Move detection / segmentation annotations with a geometric DADA op.

:func:`warp_annotations` is what :class:`~dada_mm.transforms.DADAAugment` calls after a
geometric op (ShearX/Y, TranslateX/Y, Rotate) moved ``results['img']``. ``matrix`` is the
op's 3x3 *input -> output* map in PIL's continuous pixel frame (pixel ``(row i, col j)``
covers ``[j, j+1) x [i, i+1)``), which is also mmdet's box frame (a box ``(x1, y1, x2,
y2)`` around pixels ``j0..j1`` is ``(j0, ., j1 + 1, .)``). The image size does not change.

What callers may rely on:

* ``gt_bboxes`` (an mmdet ``BaseBoxes``, or a plain ``(N, 4)`` numpy array, which stays
  one) become the axis-aligned box around the four projected corners, clipped to the
  image. ``gt_masks`` (``BitmapMasks``, ``PolygonMasks``) and ``gt_seg_map`` move with the
  image; with ``interpolation='nearest'`` bitmaps and seg map share the image's sampling
  rule, and the seg map is always nearest, filled with ``seg_fill`` outside the image.
* Nothing is filtered, as in mmdet 3.x's own geometric transforms: a box pushed out of the
  image becomes a degenerate box on the border, and the annotations keep their length and
  order. Follow ``DADAAugment`` with ``FilterAnnotations`` (the ``configs/*_dada_coco.py``
  configs do).
* Boxes and polygons move by the exact ``v * size``, the nearest-neighbour image by
  ``round(v * size)`` pixels: less than half a pixel apart.

How each annotation type moves, and why the filter matters: docs/reuse_dada_augment.md,
section "Boxes, masks and seg maps under a geometric op".
"""
from __future__ import annotations

from typing import Any, Dict, Tuple

import numpy as np

from ..ops import image_ops

__all__ = ['warp_annotations', 'move_with_image', 'ANNOTATION_KEYS', 'project_boxes',
           'project_points']

#: result keys moved with the image by geometric ops (detection / segmentation pipelines)
ANNOTATION_KEYS = ('gt_bboxes', 'gt_masks', 'gt_seg_map')


def project_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map ``(..., 2)`` points ``(x, y)`` by a 3x3 matrix (with the projective divide)."""
    pts = np.asarray(points, dtype=np.float64)
    m = np.asarray(matrix, dtype=np.float64)
    hom = pts @ m[:, :2].T + m[:, 2]
    return hom[..., :2] / hom[..., 2:3]


def project_boxes(boxes: np.ndarray, matrix: np.ndarray,
                  img_shape: Tuple[int, int]) -> np.ndarray:
    """``(N, 4)`` ``(x1, y1, x2, y2)`` boxes -> boxes around their projected corners,
    clipped to ``img_shape = (h, w)``; numpy twin of ``HorizontalBoxes.project_`` +
    ``clip_``. Keeps the input dtype (float32 if it was not floating)."""
    boxes = np.asarray(boxes)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f'gt_bboxes must have shape (N, 4), got {boxes.shape}')
    dtype = boxes.dtype if np.issubdtype(boxes.dtype, np.floating) else np.float32
    x1, y1, x2, y2 = (boxes[:, k].astype(np.float64) for k in range(4))
    corners = np.stack([np.stack([x1, y1], -1), np.stack([x2, y1], -1),
                        np.stack([x1, y2], -1), np.stack([x2, y2], -1)], axis=1)
    moved = project_points(corners, matrix)  # (N, 4, 2)
    out = np.concatenate([moved.min(axis=1), moved.max(axis=1)], axis=1)
    h, w = img_shape
    out[:, 0::2] = out[:, 0::2].clip(0, w)
    out[:, 1::2] = out[:, 1::2].clip(0, h)
    return out.astype(dtype)


def _warp_bboxes(boxes: Any, matrix: np.ndarray, img_shape: Tuple[int, int]) -> Any:
    try:
        from mmdet.structures.bbox import BaseBoxes
    except ImportError:  # mmdet not installed: only numpy boxes can occur
        BaseBoxes = ()
    if BaseBoxes and isinstance(boxes, BaseBoxes):
        # exactly mmdet GeomTransform._transform_bboxes
        boxes.project_(np.asarray(matrix, dtype=np.float32))
        boxes.clip_(img_shape)
        return boxes
    if isinstance(boxes, np.ndarray):
        return project_boxes(boxes, matrix, img_shape)
    raise TypeError(f"DADAAugment: results['gt_bboxes'] must be mmdet BaseBoxes or an "
                    f'(N, 4) numpy array, got {type(boxes).__name__}')


def _warp_bitmap(masks: Any, out_to_in: np.ndarray, img_shape: Tuple[int, int],
                 interpolation: str, fill: int) -> Any:
    h, w = img_shape
    data = np.asarray(masks.masks)
    if data.ndim != 3 or data.shape[1:] != (h, w):
        raise ValueError(f'gt_masks have shape {data.shape[1:]} but the image is '
                         f'{(h, w)}; masks must match the image before DADAAugment')
    n = data.shape[0]
    if n == 0:
        out = np.zeros((0, h, w), dtype=data.dtype)
    elif interpolation == 'nearest':
        # all masks at once as the channels of one array: the image's sampling rule
        # (image_ops.warp_affine), so every mask pixel moves with its image pixel
        out = image_ops.warp_affine(np.ascontiguousarray(data.transpose(1, 2, 0)), out_to_in,
                                    fill=fill, interpolation='nearest')
        out = np.ascontiguousarray(out.reshape(h, w, n).transpose(2, 0, 1))
    else:
        out = np.stack([image_ops.warp_affine(m, out_to_in, fill=fill,
                                              interpolation=interpolation)
                        for m in data])
    return type(masks)(out, h, w)


def _warp_polygons(masks: Any, matrix: np.ndarray, img_shape: Tuple[int, int]) -> Any:
    h, w = img_shape
    moved = []
    for polys in masks.masks:
        obj = []
        for p in polys:
            p = np.asarray(p)
            dtype = p.dtype if np.issubdtype(p.dtype, np.floating) else np.float64
            pts = project_points(p.reshape(-1, 2), matrix)
            pts[:, 0] = pts[:, 0].clip(0, w)
            pts[:, 1] = pts[:, 1].clip(0, h)
            obj.append(pts.reshape(-1).astype(dtype))
        moved.append(obj)
    return type(masks)(moved, h, w)


def _warp_masks(masks: Any, matrix: np.ndarray, out_to_in: np.ndarray,
                img_shape: Tuple[int, int], interpolation: str, fill: int) -> Any:
    from mmdet.structures.mask import BitmapMasks, PolygonMasks
    if isinstance(masks, BitmapMasks):
        return _warp_bitmap(masks, out_to_in, img_shape, interpolation, fill)
    if isinstance(masks, PolygonMasks):
        return _warp_polygons(masks, matrix, img_shape)
    raise TypeError(f"DADAAugment: results['gt_masks'] must be mmdet BitmapMasks or "
                    f'PolygonMasks, got {type(masks).__name__}')


def warp_annotations(results: Dict, matrix: np.ndarray, img_shape: Tuple[int, int],
                     interpolation: str = 'nearest', seg_fill: int = 255,
                     mask_fill: int = 0) -> Dict:
    """Move ``gt_bboxes``, ``gt_masks`` and ``gt_seg_map`` of ``results`` in place.

    Args:
        results: an mmdet / mmseg results dict; absent or ``None`` keys are skipped.
        matrix: 3x3 input -> output map in PIL's continuous pixel frame (the one of
            :meth:`DADAAugment.geometric_matrix`).
        img_shape: ``(height, width)`` of the image (unchanged by the op).
        interpolation: the image's interpolation, used for ``BitmapMasks`` (with the
            default ``'nearest'`` masks move pixel for pixel with the image). Seg maps
            are always warped nearest.
        seg_fill: value of seg-map pixels that come from outside the image (mmdet's
            ignore index 255).
        mask_fill: value of bitmap-mask pixels that come from outside the image.

    Nothing is filtered (see the module docstring): instance keys keep their length.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (3, 3):
        raise ValueError(f'matrix must be 3x3, got shape {matrix.shape}')
    h, w = int(img_shape[0]), int(img_shape[1])
    out_to_in = None
    if results.get('gt_bboxes') is not None:
        results['gt_bboxes'] = _warp_bboxes(results['gt_bboxes'], matrix, (h, w))
    if results.get('gt_masks') is not None or results.get('gt_seg_map') is not None:
        out_to_in = np.linalg.inv(matrix)
    if results.get('gt_masks') is not None:
        results['gt_masks'] = _warp_masks(results['gt_masks'], matrix, out_to_in,
                                          (h, w), interpolation, mask_fill)
    if results.get('gt_seg_map') is not None:
        seg = np.asarray(results['gt_seg_map'])
        if seg.shape[:2] != (h, w):
            raise ValueError(f'gt_seg_map has shape {seg.shape[:2]} but the image is '
                             f'{(h, w)}')
        results['gt_seg_map'] = image_ops.warp_affine(seg, out_to_in, fill=seg_fill,
                                                      interpolation='nearest')
    return results


def move_with_image(results: Dict, matrix: np.ndarray, img_shape: Tuple[int, int],
                    interpolation: str = 'nearest') -> Dict:
    """After a geometric op: compose its input -> output ``matrix`` into
    ``results['homography_matrix']`` (as mmdet's transforms record it) and move whatever
    annotations ``results`` holds (:func:`warp_annotations`)."""
    previous = results.get('homography_matrix')
    results['homography_matrix'] = (matrix if previous is None else
                                    matrix @ previous).astype(np.float32)
    if any(results.get(key) is not None for key in ANNOTATION_KEYS):
        warp_annotations(results, matrix, img_shape, interpolation=interpolation)
    return results
