"""Batched DADA sub-policies on a detection batch: images of different sizes, each with its
own draw, and their boxes and masks moved by the same matrices as the pixels.

What callers may rely on:

* The pixels are those of :func:`~dada_mm.ops.batched_ops.apply_sub_policies` (images of
  one size go through it together), so with ``warp='pil'`` they equal the per-image
  ``DADAAugment`` for the same draw.
* After each applied geometric slot, in slot order, boxes become the axis-aligned box
  around their projected corners, clipped to the image (mmdet's ``HorizontalBoxes.project_``
  and ``clip_``, with the float32 input -> output matrix ``DADAAugment`` uses); bitmap masks
  move pixel for pixel with the image (the same source pixels, ``mask_fill`` outside).
* Nothing is filtered and nothing else changes: labels, ignore flags and the order and
  number of instances stay, and a box pushed out of the image becomes a degenerate box on
  its border, as the per-image transform leaves it.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from .batched_ops import (
    _check_warp,
    _matrix_entries,
    _stack_matrices,
    _values,
    _warp_nearest,
    _without_shear_terms,
    apply_sub_policies,
)
from .table import (
    CUTOUT_FILL_RGB,
    OPS,
    OpSpec,
    inverse_output_to_input_matrix,
    level_to_value,
)

__all__ = ['DetectionBatch', 'augment_detection_batch', 'augment_det_data_samples',
           'forward_matrix', 'box_fields', 'instance_masks']


@dataclass
class DetectionBatch:
    """The augmented batch: per image a float [C, H, W] image (values 0..255), its [N, 4]
    boxes and its masks ([M, H, W] tensor, or None where it had none)."""
    images: List[Tensor]
    boxes: List[Tensor]
    masks: List[Optional[Tensor]]


def forward_matrix(op: str, level: float, sign: float, height: int, width: int
                   ) -> np.ndarray:
    """The float32 input -> output matrix of a geometric op, as ``DADAAugment`` moves
    annotations with it (the inverse of the op table's output -> input matrix)."""
    value = level_to_value(op, float(level), float(sign))
    return np.linalg.inv(inverse_output_to_input_matrix(op, value, height, width)).astype(
        np.float32)


def _move_boxes(boxes: Tensor, matrix: np.ndarray, height: int, width: int) -> Tensor:
    from mmdet.structures.bbox import HorizontalBoxes
    moved = HorizontalBoxes(boxes.clone(), clone=False)
    moved.project_(matrix)
    moved.clip_((height, width))
    return moved.tensor


def _move_masks(masks: Tensor, spec: OpSpec, level: float, sign: float, mask_fill: float,
                warp: str) -> Tensor:
    """Every mask of one image through the op's warp, as channels of one image: the
    source pixels are the image's."""
    if masks.shape[0] == 0:
        return masks
    h, w = masks.shape[-2:]
    level64 = torch.tensor([float(level)], dtype=torch.float64, device=masks.device)
    values = _values(spec, level64, torch.tensor([float(sign)], device=masks.device))
    entries = _matrix_entries(spec, values, h, w)
    x = masks[None].to(torch.float32)
    fill = torch.full((1, 1, 1, 1), float(mask_fill), device=masks.device)
    out = _warp_nearest(x, _stack_matrices(entries, values), fill, warp,
                        scale_path=_without_shear_terms(entries))
    return out[0].to(masks.dtype)


def _check_lengths(name: str, items, n: int) -> None:
    if items is not None and len(items) != n:
        raise ValueError(f'{name} must have one entry per image ({n}), got {len(items)}')


def augment_detection_batch(images: Sequence[Tensor], boxes: Sequence[Tensor],
                            op_indices: Tensor, apply: Tensor, levels: Tensor,
                            signs: Optional[Tensor] = None,
                            centers: Optional[Tensor] = None, *,
                            masks: Optional[Sequence[Optional[Tensor]]] = None,
                            channel_order: str = 'bgr',
                            fill: Union[float, Sequence[float]] = 0.0,
                            cutout_fill_rgb=CUTOUT_FILL_RGB, mask_fill: float = 0,
                            magnitude_grad: str = 'straight_through',
                            warp: str = 'pil') -> DetectionBatch:
    """Apply image ``i``'s sub-policy (``op_indices[i]``, ``apply[i]``, ``levels[i]``,
    ``signs[i]``, ``centers[i]``, as in ``apply_sub_policies``) to ``images[i]`` and move
    ``boxes[i]`` ([N_i, 4], x1 y1 x2 y2 in pixels) and ``masks[i]`` ([M_i, H_i, W_i]) with it.

    Images are [C, H, W] with uint8 values (any dtype), C = 1 or 3, sizes may differ.
    The levels may require grad (the images keep the graph that ``magnitude_grad`` gives);
    boxes and masks are moved without gradient.
    """
    n = len(images)
    _check_lengths('boxes', boxes, n)
    _check_lengths('masks', masks, n)
    _check_warp(warp)
    op_idx = torch.as_tensor(op_indices).long()
    if op_idx.shape != (n, 2):
        raise ValueError(f'op_indices must be [{n}, 2], got {tuple(op_idx.shape)}')
    applied = torch.as_tensor(apply).detach().cpu() > 0.5
    lv = torch.as_tensor(levels)
    sg = torch.ones(n, 2) if signs is None else torch.as_tensor(signs)
    ct = torch.full((n, 2, 2), 0.5) if centers is None else torch.as_tensor(centers)

    out_images: List[Optional[Tensor]] = [None] * n
    groups = defaultdict(list)
    for i, img in enumerate(images):
        if img.dim() != 3 or img.shape[0] not in (1, 3):
            raise ValueError(f'images[{i}] must be [C, H, W] with C in (1, 3), got '
                             f'{tuple(img.shape)}')
        groups[(tuple(img.shape), img.device)].append(i)
    for (_, device), members in groups.items():
        idx = torch.tensor(members)
        stacked = torch.stack([images[i] for i in members]).float()
        out = apply_sub_policies(
            stacked, op_idx[idx].to(device), torch.as_tensor(apply)[idx].to(device),
            lv[idx.to(lv.device)].to(device), sg[idx.to(sg.device)].to(device),
            ct[idx.to(ct.device)].to(device), channel_order=channel_order, fill=fill,
            cutout_fill_rgb=cutout_fill_rgb, magnitude_grad=magnitude_grad, warp=warp)
        for row, i in enumerate(members):
            out_images[i] = out[row]

    levels_cpu = lv.detach().to('cpu', torch.float64)
    signs_cpu = sg.detach().to('cpu', torch.float64)
    ops_cpu = op_idx.cpu()
    out_boxes, out_masks = [], []
    for i, img in enumerate(images):
        h, w = img.shape[-2:]
        b = boxes[i]
        m = None if masks is None else masks[i]
        if b.dim() != 2 or b.shape[1] != 4:
            raise ValueError(f'boxes[{i}] must be [N, 4] (x1, y1, x2, y2), got '
                             f'{tuple(b.shape)}')
        if m is not None and tuple(m.shape[-2:]) != (h, w):
            raise ValueError(f'masks[{i}] must be [M, {h}, {w}] like its image, got '
                             f'{tuple(m.shape)}')
        for j in range(2):
            spec = OPS[int(ops_cpu[i, j])]
            if not applied[i, j] or spec.kind != 'geometric':
                continue
            level, sign = float(levels_cpu[i, j]), float(signs_cpu[i, j])
            b = _move_boxes(b, forward_matrix(spec.name, level, sign, h, w), h, w)
            if m is not None:
                m = _move_masks(m, spec, level, sign, mask_fill, warp)
        out_boxes.append(b)
        out_masks.append(m)
    return DetectionBatch(out_images, out_boxes, out_masks)


#: the instance sets of a ``DetDataSample`` whose boxes and masks move with the image
INSTANCE_SETS = ('gt_instances', 'ignored_instances')


def box_fields(sample):
    """``(field, box tensor [N, 4], box type)`` of each of a ``DetDataSample``'s instance
    sets that hold boxes (``gt_instances``, ``ignored_instances``)."""
    from mmdet.structures.bbox import BaseBoxes
    for name in INSTANCE_SETS:
        inst = getattr(sample, name, None)
        if inst is not None and 'bboxes' in inst:
            b = inst.bboxes
            yield name, (b.tensor if isinstance(b, BaseBoxes) else b), type(b)


def instance_masks(sample, where: str = 'data sample'):
    """``(layout, masks)`` of a ``DetDataSample``'s bitmap masks: ``layout`` lists
    ``(instance set, count, dtype)`` of each set that has masks, ``masks`` is their
    [M, H, W] numpy stack in that order (None when no set has any). Masks other than
    ``BitmapMasks`` are refused, naming ``where``."""
    from mmdet.structures.mask import BitmapMasks
    layout, arrays = [], []
    for name in INSTANCE_SETS:
        inst = getattr(sample, name, None)
        m = inst.masks if inst is not None and 'masks' in inst else None
        if m is None:
            continue
        if not isinstance(m, BitmapMasks):
            raise TypeError(f'{where}.{name}.masks must be BitmapMasks '
                            '(LoadAnnotations(poly2mask=True)), got '
                            f'{type(m).__name__}')
        arr = np.asarray(m.masks)
        layout.append((name, len(m), arr.dtype))
        arrays.append(arr)
    return layout, (np.concatenate(arrays) if arrays else None)


def augment_det_data_samples(inputs: Sequence[Tensor], data_samples: Sequence,
                             op_indices: Tensor, apply: Tensor, levels: Tensor,
                             signs: Optional[Tensor] = None,
                             centers: Optional[Tensor] = None, **kwargs) -> List[Tensor]:
    """:func:`augment_detection_batch` on an mmdet data batch before its data
    preprocessor: ``inputs`` (uint8 [C, H, W] per image) and ``DetDataSample``s. Moves the
    ``bboxes`` and the ``masks`` (``BitmapMasks``) of each sample's ``gt_instances`` and
    ``ignored_instances`` in place; returns the augmented images (float, values 0..255)."""
    from mmdet.structures.bbox import BaseBoxes
    from mmdet.structures.mask import BitmapMasks

    layout, flat_boxes, masks, mask_layout = [], [], [], []
    for i, sample in enumerate(data_samples):
        entries = list(box_fields(sample))
        layout.append(entries)
        flat_boxes.append(torch.cat([t.reshape(-1, 4).float() for _, t, _ in entries])
                          if entries else torch.zeros(0, 4))
        # the masks of every instance set that has them, stacked as the boxes are
        held, stacked = instance_masks(sample, f'data_samples[{i}]')
        mask_layout.append(held)
        masks.append(None if stacked is None else torch.from_numpy(stacked))
    out = augment_detection_batch(inputs, flat_boxes, op_indices, apply, levels, signs,
                                  centers, masks=masks, **kwargs)
    for sample, entries, boxes, m, held in zip(data_samples, layout, out.boxes, out.masks,
                                               mask_layout):
        start = 0
        for name, t, box_type in entries:
            inst = getattr(sample, name)
            moved = boxes[start:start + t.shape[0]].to(t.dtype)
            start += t.shape[0]
            inst.bboxes = box_type(moved) if issubclass(box_type, BaseBoxes) else moved
        start = 0
        for name, n, dtype in held:  # each set back in its own dtype (cat may promote)
            h, w = m.shape[-2:]
            getattr(sample, name).masks = BitmapMasks(
                m[start:start + n].numpy().astype(dtype, copy=False), h, w)
            start += n
    return out.images
