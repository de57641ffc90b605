"""The detection family's ops (Zoph et al.) on a detection batch, for the search.

A search over ``search_space='zoph-detection'`` draws two-op sub-policies of the 25
detection-family ops, as the DADA search draws pairs of the 15 DADA ops. Their box-only
ops change pixels inside each box and BBox_Cutout picks a box, so each image goes through
the per-image applier that ``ZophDetectionAugment`` uses
(:func:`~dada_mm.transforms.zoph_augment.apply_detection_op`), with its boxes (ground
truth and ignored ones together, as the pipeline holds them) and bitmap masks moved by
the geometric ops. The images stay on their device; only the pixels travel to numpy.

Draws are the learner's: per image and slot the apply bit, level, sign and a Cutout centre
(``centers[i, j]``), and a numpy ``RandomState`` seeded from the image's centres for the
per-box draws of BBox_Cutout and the box-only ops, so a run repeats and resumes exactly.

A box-only op's apply probability p is a per-box probability in the published policies:
``ZophDetectionAugment`` enters the op always and changes each box with probability
p / 3. Here the slot is applied with probability p, as every other op, and then changes
each box with probability 1 / 3: each box changes with the same probability p / 3, but
the boxes of one image change together more often than under the transform.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from ..ops.batched_detection import box_fields, instance_masks
from ..ops.detection_ops import REPLACE_FILL
from ..search_space import SearchSpace
from ..transforms.zoph_augment import apply_detection_op

__all__ = ['augment_zoph_det_data_samples', 'per_box_seed']


def per_box_seed(centers: Tensor) -> int:
    """The seed of an image's per-box draws: a function of its two Cutout centres [2, 2]
    (uniforms from the learner's generator), so it repeats with the learner's stream."""
    u = centers.detach().to('cpu', torch.float64).reshape(-1)
    return int(sum(float(x) * 2.0 ** (-8 * k) for k, x in enumerate(u)) * 2 ** 31) % 2 ** 32


def _instances(sample):
    """(box entries, stacked boxes [N, 4] float64 numpy, mask layout, stacked masks or None)
    of a ``DetDataSample``'s ground-truth and ignored instances."""
    entries = list(box_fields(sample))
    boxes = (np.concatenate([t.detach().cpu().double().reshape(-1, 4).numpy()
                             for _, t, _ in entries]) if entries else np.zeros((0, 4)))
    layout, masks = instance_masks(sample)
    return entries, boxes, layout, masks


def _write_back(sample, entries, boxes: np.ndarray, layout, masks) -> None:
    from mmdet.structures.bbox import BaseBoxes
    from mmdet.structures.mask import BitmapMasks
    start = 0
    for name, t, box_type in entries:
        inst = getattr(sample, name)
        moved = torch.as_tensor(boxes[start:start + t.shape[0]]).to(t.dtype)
        start += t.shape[0]
        inst.bboxes = box_type(moved) if issubclass(box_type, BaseBoxes) else moved
    start = 0
    for name, n, dtype in layout:
        h, w = masks.shape[-2:]
        getattr(sample, name).masks = BitmapMasks(
            masks[start:start + n].astype(dtype, copy=False), h, w)
        start += n


def augment_zoph_det_data_samples(inputs: Sequence[Tensor], data_samples: Sequence,
                                  op_indices: Tensor, apply: Tensor, levels: Tensor,
                                  signs: Optional[Tensor] = None,
                                  centers: Optional[Tensor] = None, *, space: SearchSpace,
                                  channel_order: str = 'bgr',
                                  interpolation: str = 'nearest', **_) -> List[Tensor]:
    """Image ``i``'s sub-policy of ``space`` (ops ``op_indices[i]`` applied where
    ``apply[i]``, at ``levels[i]`` with ``signs[i]``, Cutout at ``centers[i]``) on
    ``inputs[i]`` (uint8 [C, H, W]), its samples' boxes and bitmap masks moved in place;
    returns the augmented images (float, values 0..255). Fills are [TPU]'s grey 128.
    Other keyword arguments (the DADA applier's ``warp``) are accepted and ignored."""
    from mmdet.structures.bbox import HorizontalBoxes
    from mmdet.structures.mask import BitmapMasks
    n = len(inputs)
    if len(data_samples) != n or tuple(op_indices.shape) != (n, 2):
        raise ValueError(f'one data sample and one op pair per image: {n} images, '
                         f'{len(data_samples)} samples, op_indices {tuple(op_indices.shape)}')
    ops = op_indices.detach().cpu().tolist()
    on = (torch.as_tensor(apply).detach().cpu() > 0.5).tolist()
    lv = torch.as_tensor(levels).detach().to('cpu', torch.float64).tolist()
    sg = (torch.ones(n, 2) if signs is None else signs).detach().cpu().tolist()
    ct = torch.full((n, 2, 2), 0.5) if centers is None else centers.detach().cpu()
    out = []
    for i, (image, sample) in enumerate(zip(inputs, data_samples)):
        img = image.detach().round().clamp(0, 255).to('cpu', torch.uint8)
        img = np.ascontiguousarray(img.permute(1, 2, 0).numpy())
        entries, boxes, layout, masks = _instances(sample)
        h, w = img.shape[:2]
        results = dict(img=img, img_shape=(h, w), gt_bboxes=HorizontalBoxes(
            torch.as_tensor(boxes, dtype=torch.float32)))
        if masks is not None:
            results['gt_masks'] = BitmapMasks(masks, h, w)
        rng = np.random.RandomState(per_box_seed(ct[i]))
        for j in range(2):
            if not on[i][j]:
                continue
            # the slot is on: a box-only op then changes each box with probability 1 / 3
            img, _ = apply_detection_op(
                results, img, space.op_names[ops[i][j]], 1.0, lv[i][j], sg[i][j],
                (float(ct[i, j, 0]), float(ct[i, j, 1])), fill=REPLACE_FILL,
                cutout_fill=REPLACE_FILL, interpolation=interpolation,
                channel_order=channel_order, rng=rng)
        moved = results['gt_bboxes']
        moved = (moved.tensor if hasattr(moved, 'tensor') else torch.as_tensor(moved))
        _write_back(sample, entries, moved.double().numpy(), layout,
                    np.asarray(results['gt_masks'].masks) if masks is not None else None)
        out.append(torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).to(
            image.device, torch.float32))
    return out
