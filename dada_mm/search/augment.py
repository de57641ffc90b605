"""The training batch through the search: its uint8 images out of the data batch, their
augmentation on the training device with the learned (or the frozen) policy, and the
augmented images back where the runner's training step reads them."""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from ..ops.batched_ops import apply_sub_policies
from ..policy.export import FrozenPolicySampler
from .distributions import PolicySample
from .learner import PolicyLearner

__all__ = ['stack_inputs', 'draw_batch', 'augment_batch', 'write_back_inputs']


def stack_inputs(inputs, device: torch.device, owner: str = 'DADASearchHook') -> Tensor:
    """The data batch's ``inputs`` (a [B, C, H, W] tensor or a list of [C, H, W]) as one
    tensor on ``device``; images of different sizes or channel counts are refused."""
    if not isinstance(inputs, Tensor):
        shapes = {tuple(x.shape) for x in inputs}
        if len(shapes) != 1:
            raise ValueError(f'{owner}: training images must all have the same shape '
                             f'(use a fixed-size crop); got {sorted(shapes)}')
        inputs = torch.stack(list(inputs))
    if inputs.dim() != 4 or inputs.shape[1] not in (1, 3):
        raise ValueError(f'{owner}: expected images of shape (B, C, H, W) with C in '
                         f'(1, 3), got {tuple(inputs.shape)}')
    return inputs.to(device)


def draw_batch(learner: PolicyLearner, frozen: Optional[FrozenPolicySampler], batch: int,
               keep_graph: bool = False):
    """One draw per image from ``learner.generator``, in a fixed order: the sub-policies
    (of the learned policy, ``frozen`` None, or of the frozen one), then the signs and
    Cutout centres. Returns ``(sample or None, op_indices, apply, levels, signs, centers)``;
    with ``keep_graph`` the learned levels keep their graph to the magnitudes."""
    sample = None
    with torch.no_grad():
        if frozen is None:
            sample = learner.sample(batch)
            op_indices, apply = learner.op_indices(sample), sample.b
        else:
            op_indices, apply, levels = frozen.draw(batch, learner.generator)
        signs, centers = learner.signs_and_centers(batch)
    if sample is not None:
        with torch.set_grad_enabled(keep_graph):
            levels = learner.levels(sample)
    return sample, op_indices, apply, levels, signs, centers


def augment_batch(images: Tensor, learner: PolicyLearner,
                  frozen: Optional[FrozenPolicySampler], keep_graph: bool,
                  channel_order: str, magnitude_grad: str, warp: str = 'pil'
                  ) -> Tuple[Tensor, Optional[PolicySample]]:
    """Augment ``images`` with one draw per image, all from ``learner.generator``.

    ``frozen`` None: draws of the learned policy, returned with the augmented float
    batch; with ``keep_graph`` the batch keeps its graph to the magnitudes (the policy
    step reuses it instead of augmenting again). Otherwise draws of the frozen policy
    (the sample returned is None).
    """
    sample, op_indices, apply, levels, signs, centers = draw_batch(
        learner, frozen, images.shape[0], keep_graph)
    with torch.set_grad_enabled(keep_graph):
        augmented = apply_sub_policies(images.float(), op_indices, apply, levels, signs,
                                       centers, channel_order=channel_order,
                                       magnitude_grad=magnitude_grad, warp=warp)
    return augmented, sample


def write_back_inputs(data_batch: Dict, augmented: Tensor) -> None:
    """Put the augmented batch, rounded back to uint8, where the training step reads it
    (a tensor or a list, as the data batch had it)."""
    out = augmented.detach().round().clamp(0, 255).to(torch.uint8)
    inputs = data_batch['inputs']
    if isinstance(inputs, Tensor):
        data_batch['inputs'] = out.to(inputs.device)
    else:
        data_batch['inputs'] = [x for x in out]
