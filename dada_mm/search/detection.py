"""The search inside a detector's training: the mmdet side of ``DADASearchHook``.

A detection batch holds images of different sizes, with boxes and masks in its data samples;
the detector's loss is a dict of head losses, each normalised by the batch's number of
positives (``avg_factor``), which couples the images of a batch. So here:

* the training batch is augmented per image (:func:`augment_detection_step`), its boxes,
  ignored boxes and bitmap masks moved with the pixels
  (:func:`~dada_mm.ops.batched_detection.augment_det_data_samples`);
* a candidate's loss is the detector's loss of that image alone, a batch of one: each
  image's loss over its own positives (:func:`per_image_detector_losses`), so one image's
  reward never depends on another image's draw and per-image credit is exact;
* the held-out loss is the detector's own training loss on a held-out batch, without
  augmentation (:func:`detector_validation_gradient`);
* boxes the augmentation squeezed below :data:`MIN_BOX_SIZE` pixels are dropped with their
  labels and masks (:func:`drop_small_boxes`), as a ``FilterAnnotations`` after a
  per-image ``DADAAugment`` drops degenerate boxes: a box of zero width has an infinite
  regression target, one under a pixel a target far off every other's. An image left
  without boxes stays in the batch (``FilterAnnotations`` would skip it) and trains, and is
  scored, on its background.

The candidate-scoring estimator is the supported search here, with the ``'dot'`` reward
(the default: per-image losses only) or ``'match'`` (the classifier's gradient-matching
objective taken in all trainable weights, :func:`detection_match_scores`: one backward
pass and two more forward passes per candidate); RELAX, REINFORCE and Gumbel-ST need the
input gradient of a stacked batch and ``'cos_class'`` per-class held-out gradients, which
a detector has not.
"""
from __future__ import annotations

import copy
import functools
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ..ops.batched_detection import augment_det_data_samples, box_fields
from ..ops.detection_ops import DETECTION_FAMILY
from .augment import draw_batch
from .bilevel import _difference_points, clone_buffers, normalised_by
from .bilevel_reward import StepInput, draw_candidates_of
from .candidates import CandidateSet
from .gradient_matching import row_policy_weights, weight_space_match_scores
from .learner import PolicyReward
from .zoph_detection import augment_zoph_det_data_samples

__all__ = ['is_detector', 'check_detector_search', 'per_image_detector_losses',
           'detector_validation_gradient', 'detection_finite_differences',
           'detection_match_scores',
           'augment_detection_step', 'score_detection_candidates', 'drop_small_boxes',
           'batch_applier',
           'MIN_BOX_SIZE']

#: boxes narrower or lower than this (pixels) after the search's augmentation are dropped
#: (the size of mmdet's ``FilterAnnotations`` default ``min_gt_bbox_wh``; the project's
#: pipelines filter at 0.01 px, after which a box under a pixel still trains)
MIN_BOX_SIZE = 1.0


def is_detector(model: nn.Module) -> bool:
    """Whether ``model`` is an mmdet detector (mmdet installed and ``BaseDetector``)."""
    try:
        from mmdet.models.detectors import BaseDetector
    except ImportError:
        return False
    return isinstance(model, BaseDetector)


def check_detector_search(estimator: str, options: Dict, order: str) -> None:
    """Refuse the parts of the search a detector cannot give a signal to, naming them."""
    if estimator != 'candidates':
        raise ValueError(f"DADASearchHook on a detector needs estimator='candidates' (each "
                         f'candidate scored by its own detector loss), got {estimator!r}')
    if options.get('reward', 'auto') not in ('auto', 'dot', 'match'):
        why = ("on a detector 'match' is already taken in all trainable weights"
               if options['reward'] == 'match_all'
               else "'cos_class' needs a classifier's class labels")
        raise ValueError(f"DADASearchHook on a detector needs the candidates' "
                         f"reward='match' or 'dot', got {options['reward']!r} ({why})")
    if order != 'second':
        raise ValueError(f"DADASearchHook on a detector needs reward order='second', got "
                         f'{order!r}')


def _detector_loss(model: nn.Module, tensors: Optional[Dict[str, Tensor]],
                   inputs: List[Tensor], data_samples: Sequence) -> Tensor:
    """The detector's training loss (sum of its loss terms) on one collated batch, through
    its own data preprocessor; ``tensors`` replaces parameters and buffers for this call."""
    data = model.data_preprocessor({'inputs': list(inputs),
                                    'data_samples': list(data_samples)}, True)
    kwargs = dict(inputs=data['inputs'], data_samples=data['data_samples'], mode='loss')
    losses = (model(**kwargs) if tensors is None else
              functional_call(model, tensors, args=(), kwargs=kwargs, strict=False))
    return model.parse_losses(losses)[0]


def drop_small_boxes(data_samples: Sequence, min_size: float = MIN_BOX_SIZE) -> None:
    """Drop, in place, the instances (box, label, mask, ...) of each sample's
    ``gt_instances`` and ``ignored_instances`` whose box is narrower or lower than
    ``min_size`` pixels; a sample may end with none."""
    for sample in data_samples:
        for name, t, _ in list(box_fields(sample)):
            keep = (((t[:, 2] - t[:, 0]) >= min_size)
                    & ((t[:, 3] - t[:, 1]) >= min_size)).cpu()  # indexes fields anywhere
            if not bool(keep.all()):
                setattr(sample, name, getattr(sample, name)[keep])


def per_image_detector_losses(model: nn.Module, tensors: Optional[Dict[str, Tensor]],
                              inputs: Sequence[Tensor], data_samples: Sequence) -> Tensor:
    """[N] the detector's loss of every image alone (its loss over its own positives; mmdet
    counts at least one, so an image left without boxes is scored on its negatives)."""
    return torch.stack([_detector_loss(model, tensors, [x], [ds])
                        for x, ds in zip(inputs, data_samples)])


def detector_validation_gradient(model: nn.Module, val_batch: Dict,
                                 params: Dict[str, Tensor], norm: str = 'running'
                                 ) -> Tuple[Dict[str, Tensor], float]:
    """v = grad_w of the detector's loss on the held-out batch, and that loss; ``norm``:
    'running' evaluates in eval mode, 'batch' in train mode (mmdet's R-50 configs freeze
    BatchNorm either way, ``norm_eval=True``); buffers untouched."""
    with normalised_by(model, norm):
        loss = _detector_loss(model, clone_buffers(model), val_batch['inputs'],
                              val_batch['data_samples'])
    names = list(params)
    grads = torch.autograd.grad(loss, [params[n] for n in names], allow_unused=True)
    v = {n: (torch.zeros_like(params[n]) if g is None else g.detach())
         for n, g in zip(names, grads)}
    return v, float(loss.detach())


def detection_finite_differences(model: nn.Module, weights: Dict[str, Tensor],
                                 direction: Dict[str, Tensor], radius: float,
                                 inputs: Sequence[Tensor], data_samples: Sequence,
                                 norm: str = 'running') -> Tensor:
    """[N] ``(f_i(w + R v) - f_i(w - R v)) / 2R`` of every image's own detector loss."""
    points, step = _difference_points(weights, direction, radius, central=True)
    with normalised_by(model, norm), torch.no_grad():
        losses = [per_image_detector_losses(model, {**w, **clone_buffers(model)},
                                            inputs, data_samples) for w in points]
    return (losses[0] - losses[1]) / step


def detection_match_scores(model: nn.Module, weights: Dict[str, Tensor],
                           v: Dict[str, Tensor], dots_v: Tensor, fd_epsilon: float,
                           inputs: Sequence[Tensor], data_samples: Sequence,
                           row_weights: Tensor, norm: str = 'running') -> Tensor:
    """[R] ``<g_c, u>`` of the candidate rows: the classifier's ``'match'`` objective
    ``J = cos(g_bar, v)`` taken in all trainable weights of a detector, with ``g_bar =
    sum_c row_weights[c] g_c`` the policy's expected training gradient and ``u = dJ /
    d g_bar`` (``gradient_matching.matching_direction``).

    A detector has no closed-form logit layer, so the products come from its own losses:
    ``g_bar`` from one backward pass of the weighted candidate losses at ``weights``,
    ``dots_v`` (``g_c . v``, the ``'dot'`` reward's central differences) given, and
    ``g_c . g_bar`` from central differences along ``g_bar`` (radius ``fd_epsilon /
    |g_bar|``). Then ``<g_c, u> = g_c.v / (|v| |g_bar|) - J g_c.g_bar / |g_bar|^2``.
    Why: ``J`` does not grow with the size of the candidates' gradients, so an op is not
    rewarded for making images harder (darker, lower in contrast) beyond what matches
    the held-out gradient's direction, as the ``'dot'`` reward ``g_c . v`` is.
    """
    def losses_at(tensors):
        with normalised_by(model, norm):
            return per_image_detector_losses(model, {**tensors, **clone_buffers(model)},
                                             inputs, data_samples)

    def directional(direction, radius):
        return detection_finite_differences(model, weights, direction, radius, inputs,
                                            data_samples, norm=norm)

    return weight_space_match_scores(losses_at, directional, weights, v, dots_v,
                                     fd_epsilon, row_weights)


def batch_applier(learner) -> Callable:
    """What augments a detection batch for ``learner``'s search space: the batched DADA
    ops on the training device, or the detection family's per-image applier
    (:func:`~.zoph_detection.augment_zoph_det_data_samples`); both move boxes and masks
    in place and take the same arguments."""
    if learner.space.family == DETECTION_FAMILY:
        return functools.partial(augment_zoph_det_data_samples, space=learner.space)
    return augment_det_data_samples


def augment_detection_step(data_batch: Dict, learner, frozen, keep_originals: bool,
                           channel_order: str, warp: str, device: torch.device
                           ) -> Tuple[List[Tensor], Optional[List]]:
    """Augment a detection data batch in place (its images one draw each, its boxes and
    masks with them), with the learned policy's draws (``frozen`` None) or the frozen
    policy's. Returns the un-augmented images on ``device`` and, with ``keep_originals``,
    deep copies of the data samples as they were (what the candidates are drawn on)."""
    images = [x.to(device) for x in data_batch['inputs']]
    originals = copy.deepcopy(list(data_batch['data_samples'])) if keep_originals else None
    _, op_indices, apply, levels, signs, centers = draw_batch(learner, frozen, len(images))
    with torch.no_grad():
        augmented = batch_applier(learner)(images, data_batch['data_samples'], op_indices,
                                           apply, levels, signs, centers,
                                           channel_order=channel_order, warp=warp)
    drop_small_boxes(data_batch['data_samples'])
    data_batch['inputs'] = [a.round().clamp(0, 255).to(torch.uint8) for a in augmented]
    return images, originals


def score_detection_candidates(reward, model: nn.Module, step: StepInput, val_batch: Dict,
                               learner, channel_order: str
                               ) -> Tuple[PolicyReward, CandidateSet]:
    """``BilevelReward.score_candidates`` on a detector (``step.images`` a list): the first
    S images of the batch, each under its K candidates (boxes and masks moved with each),
    scored by ``-xi * (f_c(w + R v) - f_c(w - R v)) / 2R`` with f_c the candidate's own
    detector loss and v the gradient of the detector's held-out loss (``reward='dot'``), or
    by minus :func:`detection_match_scores` (``reward='match'``). Returns the reward
    (``grad_magnitudes`` zero: the estimator scores the levels) and the candidate set;
    raises :class:`SkipPolicyUpdate` when v (or, for ``'match'``, the expected candidate
    gradient) is zero or not finite on some rank."""
    v, radius, xi, val_loss = reward.held_out_direction(
        model, step, val_batch, gradient=detector_validation_gradient)
    s = min(learner.estimator.num_images, len(step.images))
    cand, mirror, image, op_indices, b, levels, signs, centers = draw_candidates_of(
        learner, s)
    rows = image.tolist()
    samples = [copy.deepcopy(step.data_samples[i]) for i in rows]
    inputs = batch_applier(learner)([step.images[i] for i in rows], samples,
                                    op_indices, b, levels, signs, centers,
                                    channel_order=channel_order, warp=reward.warp)
    drop_small_boxes(samples)
    norm = learner.estimator.norm
    h = detection_finite_differences(model, step.weights, v, radius, inputs, samples,
                                     norm=norm)
    h_folded = h if mirror is None else mirror.fold(h)
    if learner.estimator.reward == 'match':
        row_weights = row_policy_weights(cand, learner.policy.clamped_probs(cand.eps),
                                         mirror)
        scores = detection_match_scores(model, step.weights, v, h, reward.fd_epsilon,
                                        inputs, samples, row_weights, norm=norm)
        rewards = -(scores if mirror is None else mirror.fold(scores))
    else:
        rewards = -xi * h_folded
    zeros = torch.zeros_like(learner.policy.magnitudes.detach())
    return PolicyReward(per_image=rewards.view(s, cand.num_candidates),
                        grad_magnitudes=zeros, val_loss=val_loss,
                        h_mean=float(h_folded.mean())), cand
