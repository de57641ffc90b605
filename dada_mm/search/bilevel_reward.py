"""The reward of one policy step: DARTS' one-pass hyper-gradient, per image.

After the runner's training step (the unrolled step w_t -> w_{t+1}), a held-out batch
gives v = grad L_val(w_{t+1}); finite differences of each training image's loss at
w_t +/- R v (R = fd_epsilon / ||v||; ``order='first'``: one-sided, against the training
step's own pass at w_t) give its hyper-gradient h_i, and the reward is
``-xi * h_i`` (xi: the network's learning rate, or a fixed scale). Optionally the same
difference of the un-augmented image is subtracted (``reward_baseline='clean'``), then
the credit is assigned (``reward.assign_credit``). The magnitudes get
``-xi * d mean(h) / dm`` through the augmentation graph. The primitives are in
``bilevel.py``; :class:`StepInput` is what the hook keeps from ``before_train_iter``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from ..ops.batched_ops import MAGNITUDE_GRAD_MODES, WARP_MODES, apply_sub_policies
from ..utils.dist import all_ranks
from .bilevel import (
    class_gradients,
    clone_buffers,
    directional_derivatives,
    finite_difference_losses,
    global_norm,
    labels_of,
    normalised_by,
    per_sample_gradient_products,
    per_sample_losses,
    trainable_parameters,
    validation_gradient,
)
from .candidates import CandidateSet, SignMirror
from .distributions import PolicySample
from .gradient_matching import (
    held_out_logit_gradient,
    match_scores,
    row_policy_weights,
    weight_space_match_scores,
)
from .learner import PolicyLearner, PolicyReward, SkipPolicyUpdate
from .registry import DADA_REWARDS
from .reward import CREDITS, assign_credit

__all__ = ['StepInput', 'BilevelReward', 'network_lr', 'check_first_order',
           'draw_candidates_of', 'ORDERS', 'REWARD_BASELINES', 'HELD_OUT_NORMS']

ORDERS = ('second', 'first')
REWARD_BASELINES = (None, 'clean')
HELD_OUT_NORMS = ('batch', 'running')


@dataclass
class StepInput:
    """One update iteration's inputs to the policy step, kept by ``before_train_iter``.

    Attributes:
        augmented: [B, C, H, W] float augmented batch, with its graph to the magnitudes.
        images: [B, C, H, W] the un-augmented uint8 batch on the training device.
        sample: the policy draws the batch was augmented with.
        data_samples: the batch's data samples (labels).
        weights: the trainable weights w_t before the training step (detached copies).
        lr: the network's learning rate at this step (xi when ``hypergrad_scale='lr'``).
    """
    augmented: Tensor
    images: Tensor
    sample: PolicySample
    data_samples: Sequence
    weights: Dict[str, Tensor]
    lr: float

    @property
    def device(self) -> torch.device:
        """The training device (``images`` is one tensor, or a list for detectors)."""
        return (self.images if torch.is_tensor(self.images) else self.images[0]).device

    @classmethod
    def before_step(cls, model: nn.Module, optim_wrapper, augmented: Tensor, images: Tensor,
                    sample: PolicySample, data_samples: Sequence) -> 'StepInput':
        """Capture w_t and the learning rate now, before the training step runs."""
        return cls(augmented=augmented, images=images, sample=sample,
                   data_samples=data_samples,
                   weights={n: p.detach().clone()
                            for n, p in trainable_parameters(model).items()},
                   lr=network_lr(optim_wrapper))


def network_lr(optim_wrapper) -> float:
    """The first parameter group's learning rate."""
    first = next(iter(optim_wrapper.get_lr().values()))
    return float(first[0] if isinstance(first, (list, tuple)) else first)


def draw_candidates_of(learner: PolicyLearner, s: int):
    """The candidates of ``s`` images, drawn now from the policy, and their signs and Cutout
    centres (the columns of one drawn sub-policy share them, so their differences are
    differences of the apply bits or levels alone): ``(candidate set, mirror, image,
    op_indices, b, levels, signs, centers)``, one row per candidate to evaluate. With the
    estimator's ``signs='both'``, ``mirror`` is the :class:`SignMirror` whose rows follow
    the candidates' with their signs negated (``mirror.fold`` turns the rows' values back
    into one per candidate); otherwise None."""
    cand = learner.estimator.draw(learner.policy, s, learner.generator)
    image, k, b, levels = cand.flat()
    op_indices = learner.op_indices_of(k)
    m = cand.num_draws
    signs, centers = learner.signs_and_centers(s * m)
    column_draw = cand.draw_index().clamp(min=0)   # the clean column applies nothing
    signs = signs.view(s, m, 2)[:, column_draw].reshape(-1, 2)
    centers = centers.view(s, m, 2, 2)[:, column_draw].reshape(-1, 2, 2)
    mirror = None
    if learner.estimator.signs == 'both':
        mirror = SignMirror.of(op_indices, b, learner.space)
        image, op_indices, b, levels, centers = (
            mirror.extend(x) for x in (image, op_indices, b, levels, centers))
        signs = mirror.extend_signs(signs)
    return cand, mirror, image, op_indices, b, levels, signs, centers


def check_first_order(runner, model: nn.Module) -> None:
    """First order reuses the training step's loss and input gradient as the base point
    of its difference, so that loss must be the plain per-image cross-entropy the other
    points use, in full precision, without gradient accumulation."""
    loss = getattr(getattr(model, 'head', None), 'loss_module', None)
    plain = (type(loss).__name__ == 'CrossEntropyLoss'
             and not getattr(loss, 'use_sigmoid', False)
             and not getattr(loss, 'use_soft', False)
             and getattr(loss, 'loss_weight', 1.0) == 1.0
             and getattr(loss, 'class_weight', None) is None)
    if not plain:
        raise ValueError("DADASearchHook(order='first') needs a classifier whose "
                         'head loss is a plain CrossEntropyLoss (loss_weight=1, no '
                         f"class weights or label smoothing), got {loss!r}; use "
                         "order='second'")
    wrapper = runner.optim_wrapper
    if type(wrapper).__name__ == 'AmpOptimWrapper':
        raise ValueError("DADASearchHook(order='first') cannot reuse a mixed-"
                         "precision training step; use order='second' with --amp")
    if getattr(wrapper, '_accumulative_counts', 1) != 1:
        raise ValueError("DADASearchHook(order='first') does not support gradient "
                         "accumulation; use order='second'")


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f'{name} must be one of {list(choices)}, got {value!r}')


@DADA_REWARDS.register_module()
class BilevelReward:
    """Per-image rewards and the magnitude gradient of one policy step; the ``reward``
    sub-config of ``DADASearchHook`` (``dict(type='BilevelReward', ...)``).

    Args:
        order: 'second' (central finite difference around w_t: two extra passes) or
            'first' (one-sided, its base point w_t is the training step itself: one pass
            fewer; needs a plain cross-entropy head, no AMP).
        reward_baseline: 'clean' subtracts the reward of the same image un-augmented
            (two more passes; independent of the draw, so unbiased); None: none.
        credit: 'batch' or 'image' (``reward.py``).
        fd_epsilon: R = fd_epsilon / ||v|| (0.01 as DARTS).
        hypergrad_scale: 'lr' multiplies the hyper-gradient by the network's learning
            rate (DARTS' xi), or a fixed number.
        held_out_norm: BatchNorm on the held-out batch: 'running' (eval mode) or 'batch'
            (its own statistics); see ``bilevel.validation_gradient``.
        magnitude_grad: how the reward's gradient reaches the levels through the ops:
            'straight_through' (op-agnostic) or 'exact' (true gradient for warps and
            blends, straight-through for the rest). The hook augments with it.
        fixed_val_batch: the held-out batch of every step is the split's first one (the
            official code) instead of a fresh one. The hook's held-out stream follows it.
        warp: how the geometric ops pick source pixels in the search (``WARP_MODES``):
            'pil', the pixels ``DADAAugment`` gives, or torch's 'grid_sample' / 'floor'.
            The hook augments with it.
    """

    def __init__(self, order: str = 'second', reward_baseline: Optional[str] = 'clean',
                 credit: str = 'batch', fd_epsilon: float = 0.01,
                 hypergrad_scale: Union[str, float] = 'lr',
                 held_out_norm: str = 'batch', magnitude_grad: str = 'straight_through',
                 fixed_val_batch: bool = False, warp: str = 'pil') -> None:
        _check_choice('order', order, ORDERS)
        _check_choice('reward_baseline', reward_baseline, REWARD_BASELINES)
        _check_choice('credit', credit, CREDITS)
        _check_choice('held_out_norm', held_out_norm, HELD_OUT_NORMS)
        _check_choice('magnitude_grad', magnitude_grad, MAGNITUDE_GRAD_MODES)
        _check_choice('warp', warp, WARP_MODES)
        if not (isinstance(hypergrad_scale, (int, float)) or hypergrad_scale == 'lr'):
            raise ValueError(f"hypergrad_scale must be 'lr' or a number, got "
                             f'{hypergrad_scale!r}')
        self.order, self.reward_baseline, self.credit = order, reward_baseline, credit
        self.fd_epsilon = float(fd_epsilon)
        self.hypergrad_scale = hypergrad_scale
        self.held_out_norm = held_out_norm
        self.magnitude_grad, self.fixed_val_batch = magnitude_grad, bool(fixed_val_batch)
        self.warp = warp
        self._base_capture = None

    def check_model(self, runner, model: nn.Module) -> None:
        """Refuse a model the reward cannot be computed for: soft labels from batch
        augments, or (first order) a training step whose loss cannot be reused."""
        if getattr(model.data_preprocessor, 'batch_augments', None) is not None:
            raise ValueError('DADASearchHook: the data preprocessor has batch_augments '
                             '(Mixup/CutMix); the search needs hard labels, remove them')
        if self.order == 'first':
            check_first_order(runner, model)

    # ------------------------------------------------------------------ first order
    def capture_base_point(self, model: nn.Module, data_batch: Dict,
                           augmented: Tensor) -> None:
        """First order: the training step itself evaluates the base point w_t. Its input
        is a detached copy of the augmented batch that requires grad (so its backward
        leaves d loss / d images in ``.grad``), and its head's logits are recorded (the
        per-image losses)."""
        x = augmented.detach().requires_grad_(True)
        data_batch['inputs'] = x
        captured = {'inputs': x}

        def keep_logits(module, args, output):
            captured['logits'] = output.detach()

        self._base_capture = (captured, model.head.register_forward_hook(keep_logits))

    def base_point(self, labels: Tensor) -> Tuple[Tensor, Tensor]:
        """The captured per-image losses and d mean(loss) / d images at w_t."""
        captured, handle = self._base_capture
        handle.remove()
        self._base_capture = None
        grad = captured['inputs'].grad
        if 'logits' not in captured or grad is None:
            raise RuntimeError("DADASearchHook(order='first'): the training step did not "
                               'run the head forward/backward on the augmented batch')
        f0 = torch.nn.functional.cross_entropy(captured['logits'], labels,
                                               reduction='none')
        return f0, grad.detach()

    # ------------------------------------------------------------------ reward
    def held_out_direction(self, model: nn.Module, step: StepInput, val_batch: Dict,
                           gradient: Optional[Callable] = None
                           ) -> Tuple[Dict[str, Tensor], float, float, float]:
        """v = grad L_val at w_{t+1}, the finite-difference radius R = fd_epsilon / |v|,
        xi and L_val; raises :class:`SkipPolicyUpdate` when v is zero or not finite on
        some rank. ``gradient(model, val_batch, params, norm)`` gives v and L_val (None:
        the classifier's cross-entropy, ``validation_gradient``, looked up at call time)."""
        params = trainable_parameters(model)
        gradient = validation_gradient if gradient is None else gradient
        v, val_loss = gradient(model, val_batch, params, norm=self.held_out_norm)
        v_norm = float(global_norm(v))
        # every rank must take the same branch: a rank returning here alone would leave
        # the others waiting in the collectives that follow
        if not all_ranks(math.isfinite(v_norm) and v_norm != 0.0, step.device):
            raise SkipPolicyUpdate(f'validation gradient norm is {v_norm} (on this or '
                                   'another rank)')
        xi = step.lr if self.hypergrad_scale == 'lr' else float(self.hypergrad_scale)
        return v, self.fd_epsilon / v_norm, xi, val_loss

    def score_candidates(self, model: nn.Module, step: StepInput, val_batch: Dict,
                         learner: PolicyLearner, channel_order: str
                         ) -> Tuple[PolicyReward, CandidateSet]:
        """The candidate-scoring step (``estimator='candidates'``): the first S clean
        images of the batch, each under its K candidates (drawn now from the policy), and
        one reward per candidate (lower is better), as ``[S, K]``: the estimator's
        ``reward``, ``'cos_class'`` (minus the cosine between the candidate's loss gradient
        and its class's held-out gradient, at the current weights), ``'dot'``
        (``-xi * (f_c(w_t + R v) - f_c(w_t - R v)) / 2R``, the paper's second-order
        reward for that candidate image) or ``'match'`` (``gradient_matching.py``).

        The columns of one drawn sub-policy share their signs and Cutout centres, so their
        differences are differences of the apply bits or levels alone; with the
        estimator's ``signs='both'`` a candidate that applies a signed op is scored at both
        signs and its reward is their mean (:class:`~.candidates.SignMirror`). BatchNorm follows
        the estimator's ``norm``. Returns the reward (``grad_magnitudes`` zero: the
        estimator scores the levels) and the candidate set for the estimator.
        """
        est = learner.estimator
        if est.reward == 'auto':
            raise ValueError("the candidate reward 'auto' is resolved for a model by "
                             'DADASearchHook (gradient_matching.resolve_reward); build the '
                             "estimator with reward='match', 'dot' or 'cos_class'")
        # match reads v in the logit layer alone: one forward pass of the held-out batch
        # gives it exactly, without the backward through the whole network
        gradient = held_out_logit_gradient if est.reward == 'match' else None
        v, radius, xi, val_loss = self.held_out_direction(model, step, val_batch, gradient)
        s = min(est.num_images, step.images.shape[0])
        cand, mirror, image, op_indices, b, levels, signs, centers = draw_candidates_of(
            learner, s)
        with torch.no_grad():
            inputs = apply_sub_policies(step.images[:s].float()[image], op_indices, b,
                                        levels, signs, centers,
                                        channel_order=channel_order, warp=self.warp)
        labels = labels_of(step.data_samples[:s]).to(inputs.device)[image]
        data_samples = [step.data_samples[i] for i in image.tolist()]
        fold = (lambda x: x) if mirror is None else mirror.fold
        if est.reward == 'match':
            probs = learner.policy.clamped_probs(cand.eps)
            h = match_scores(model, inputs, data_samples, labels, v, cand, probs,
                             mirror=mirror)
            rewards = (-h).view(s, cand.num_candidates)
        elif est.reward == 'cos_class':
            params = trainable_parameters(model)
            classes, class_grads = class_gradients(model, val_batch, params,
                                                   norm=self.held_out_norm)
            whole = torch.cat([v[n].reshape(-1) for n in params])
            directions = torch.cat([class_grads, whole[None]])
            match = labels[:, None] == classes[None, :].to(labels.device)
            rows = torch.where(match.any(1), match.float().argmax(1),
                               torch.full_like(labels, len(classes)))
            h, norms = per_sample_gradient_products(model, inputs, data_samples, labels,
                                                    directions, rows)
            cos = fold(h / (norms * directions.norm(dim=1)[rows]).clamp(min=1e-30))
            rewards = (-cos).view(s, cand.num_candidates)
        elif est.reward == 'match_all':
            h = fold(self._match_all_scores(model, step, v, radius, inputs, data_samples,
                                            labels, cand, mirror, learner))
            rewards = (-h).view(s, cand.num_candidates)
        else:
            with normalised_by(model, est.norm):
                h = finite_difference_losses(model, step.weights, v, radius, inputs,
                                             data_samples, labels, central=True)
            h = fold(h)
            rewards = (-xi * h).view(s, cand.num_candidates)
        zeros = torch.zeros_like(learner.policy.magnitudes.detach())
        return PolicyReward(per_image=rewards, grad_magnitudes=zeros, val_loss=val_loss,
                            h_mean=float(h.mean())), cand

    def _match_all_scores(self, model: nn.Module, step: StepInput, v: Dict[str, Tensor],
                          radius: float, inputs: Tensor, data_samples: Sequence,
                          labels: Tensor, cand: CandidateSet, mirror: Optional[SignMirror],
                          learner: PolicyLearner) -> Tensor:
        """``<g_c, u>`` of every candidate row for ``reward='match_all'``: the ``'match'``
        objective in all trainable weights (``weight_space_match_scores``), from central
        differences of the candidates' losses along v and along the policy's expected
        gradient, and one backward pass for that gradient."""
        norm = learner.estimator.norm

        def losses_at(tensors):
            with normalised_by(model, norm):
                return per_sample_losses(model, {**tensors, **clone_buffers(model)}, inputs,
                                         data_samples, labels)

        def directional(direction, step_radius):
            with normalised_by(model, norm):
                return finite_difference_losses(model, step.weights, direction, step_radius,
                                                inputs, data_samples, labels, central=True)

        row_weights = row_policy_weights(cand, learner.policy.clamped_probs(cand.eps), mirror)
        return weight_space_match_scores(losses_at, directional, step.weights, v,
                                         directional(v, radius), self.fd_epsilon,
                                         row_weights)

    def __call__(self, model: nn.Module, step: StepInput, val_batch: Dict,
                 magnitudes: Tensor) -> PolicyReward:
        """The rewards of ``step``'s draws (``model``: the bare model, now at w_{t+1});
        raises :class:`SkipPolicyUpdate` when v is zero or not finite on some rank."""
        device = step.images.device
        labels = labels_of(step.data_samples).to(device)
        base = self.base_point(labels) if self.order == 'first' else None
        v, radius, xi, val_loss = self.held_out_direction(model, step, val_batch)
        central = self.order == 'second'
        h, dh_dm = directional_derivatives(
            model, step.weights, v, radius, step.augmented, step.data_samples, labels,
            magnitudes, central=central, base=base)
        reward = -xi * h                              # d L_val(w_{t+1}) contribution
        if self.reward_baseline == 'clean':
            h_clean = finite_difference_losses(
                model, step.weights, v, radius, step.images.float(), step.data_samples,
                labels, central=central)
            reward = -xi * (h - h_clean)
        return PolicyReward(per_image=assign_credit(reward, self.credit),
                            grad_magnitudes=-xi * dh_dm, val_loss=val_loss,
                            h_mean=float(h.mean()))
