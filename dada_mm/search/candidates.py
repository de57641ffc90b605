"""Candidate scoring: several candidates of the same image, and an unbiased policy gradient
from the differences between them.

Every scored image is evaluated under K candidates (:func:`draw_candidates`: the clean
image, the three apply patterns of M sub-policies drawn from ``softmax(alpha)``, and
``magnitude_ops = O`` ops per draw at their level +- delta; ``K = 1 + 3M + 2OM``), and
:class:`CandidateEstimator` (``'candidates'`` in ``DADA_ESTIMATORS``) builds the gradient
of alpha, p and m from differences between candidates of that image only, so an offset
added to all of an image's rewards cancels exactly. The estimate is unbiased for
``J_delta``, the expected reward with the levels smoothed by a box of half-width delta.

What callers may rely on, and what it assumes:

* Each candidate's reward depends only on its image, its (k, b, levels) and noise whose
  law does not depend on the draws (sharing that noise across a draw's columns,
  :meth:`CandidateSet.draw_index`, is allowed). A reward that depends on other
  candidates' draws (train-mode BatchNorm over a batch of candidates) breaks
  unbiasedness.
* Draw the candidates and call the estimator with the same ``params`` (no optimiser step
  between).
* The estimate is per image ([S, N] and [S, N, 2]); its mean over the S images is the
  ascent direction of the mean reward, so for a loss r it is directly the ``.grad`` of
  alpha, p and m (:meth:`GradientEstimate.apply_to`).

Objective, candidate set and derivation: docs/method.md, section "Candidate scoring: the
estimate and why it is unbiased".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from ..search_space import DADA_SEARCH_SPACE, SearchSpace
from .estimators import GradientEstimate, PolicyGradientEstimator, _finish
from .policy_params import PolicyParameters
from .registry import DADA_ESTIMATORS

__all__ = ['CandidateSet', 'CandidateEstimator', 'SignMirror', 'draw_candidates', 'PATTERNS',
           'CANDIDATE_BASELINES', 'CANDIDATE_SIGNS']

#: apply patterns (b1, b2) scored for every drawn sub-policy; (0, 0) is the clean column 0
PATTERNS = ((1.0, 0.0), (0.0, 1.0), (1.0, 1.0))
CANDIDATE_BASELINES = ('loo', 'clean')
#: how many of a drawn sub-policy's two ops get a level pair (a count, not op indices)
MAGNITUDE_PAIR_COUNTS = (0, 1, 2)


@dataclass
class CandidateSet:
    """The candidates of S images, K per image (column layout: docs/method.md).

    Attributes:
        k: [S, K] long, sub-policy of each candidate (column 0, the clean image, holds the
            first draw's k: with ``b = (0, 0)`` it applies nothing whatever k is).
        b: [S, K, 2] float in {0, 1}, which of the sub-policy's two ops are applied.
        levels: [S, K, 2] levels in [0, 1] the ops are applied at (only where ``b = 1``).
        draws: [S, M] long, the sub-policies drawn from ``softmax(alpha)``.
        magnitude_op: [S, M, O] long, the op (0 or 1) of each magnitude pair.
        magnitude_delta: delta (half-width of the level smoothing, the +- step).
        eps: clamp of the apply probabilities.
    """
    k: Tensor
    b: Tensor
    levels: Tensor
    draws: Tensor
    magnitude_op: Tensor
    magnitude_delta: float
    eps: float

    @property
    def num_images(self) -> int:
        return int(self.k.shape[0])

    @property
    def num_candidates(self) -> int:
        """K, candidates per image: ``1 + 3M + 2OM``."""
        return int(self.k.shape[1])

    @property
    def num_draws(self) -> int:
        return int(self.draws.shape[1])

    @property
    def magnitude_ops(self) -> int:
        return int(self.magnitude_op.shape[2])

    def draw_index(self) -> Tensor:
        """[K] long: the draw (0..M-1) each column belongs to, -1 for the clean column.
        Columns of one draw should share their random op details (a signed op's sign, a
        Cutout centre): the pattern differences and the +- delta difference are then
        differences of the apply bit or of the level alone (common random numbers)."""
        m, o = self.num_draws, self.magnitude_ops
        draws = torch.arange(m, device=self.k.device)
        return torch.cat([draws.new_full((1,), -1), draws.repeat_interleave(3),
                          draws.repeat_interleave(2 * o)])

    def flat(self) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(image_index [S*K], k [S*K], b [S*K, 2], levels [S*K, 2])``, image-major:
        row ``s * K + c`` is candidate c of image s, so rewards computed in this order
        reshape to ``[S, K]`` with ``.view(S, K)``."""
        s, kk = self.k.shape
        image = torch.arange(s, device=self.k.device).repeat_interleave(kk)
        return image, self.k.reshape(-1), self.b.reshape(-1, 2), self.levels.reshape(-1, 2)


#: how a candidate's signed ops take their sign (``CandidateEstimator``'s ``signs``)
CANDIDATE_SIGNS = ('draw', 'both')


@dataclass
class SignMirror:
    """The candidate rows scored a second time with their signs flipped
    (``CandidateEstimator(signs='both')``), and how their two rewards become one.

    A signed op (ShearX/Y, TranslateX/Y, Rotate) turns an image one way or the other with
    probability 1/2, so a candidate's reward is a random variable in that sign; scoring the
    row at both signs and averaging gives its expectation over the sign exactly, which
    removes the sign's variance from the differences between candidates (the shift a
    geometric op undoes is symmetric in sign, a one-sign candidate matches half of it).
    Rows whose applied ops have no sign are scored once: their reward does not depend on it.

    Attributes:
        rows: [R'] long, the original rows (of ``num_rows``) that are scored twice; the
            extended rows are the originals followed by these, signs negated.
        num_rows: R, the number of original candidate rows.
    """
    rows: Tensor
    num_rows: int

    @classmethod
    def of(cls, op_indices: Tensor, apply: Tensor,
           space: SearchSpace = DADA_SEARCH_SPACE) -> 'SignMirror':
        """The rows (of ``op_indices`` [R, 2], op indices of ``space``, and ``apply``
        [R, 2]) that apply at least one signed op."""
        signed = space.signed_ops(op_indices.device)[op_indices] & (apply > 0)
        return cls(rows=signed.any(1).nonzero().squeeze(1), num_rows=int(op_indices.shape[0]))

    def extend(self, x: Tensor) -> Tensor:
        """``x`` [R, ...] followed by its mirrored rows."""
        return torch.cat([x, x[self.rows.to(x.device)]])

    def extend_signs(self, signs: Tensor) -> Tensor:
        """The signs [R, 2] followed by the mirrored rows' signs, negated."""
        return torch.cat([signs, -signs[self.rows.to(signs.device)]])

    def split_weights(self, weights: Tensor) -> Tensor:
        """Per-row weights [R] extended so that a mirrored row's weight is shared equally
        by its two signs (a weighted sum over the extended rows is then the sign
        expectation)."""
        rows = self.rows.to(weights.device)
        out = self.extend(weights).clone()
        out[rows] *= 0.5
        out[self.num_rows:] *= 0.5
        return out

    def fold(self, values: Tensor) -> Tensor:
        """Values [R + R'] of the extended rows -> [R]: a mirrored row gets the mean of
        its two signs' values."""
        rows = self.rows.to(values.device)
        out = values[:self.num_rows].clone()
        out[rows] = 0.5 * (out[rows] + values[self.num_rows:])
        return out


#: BatchNorm of the candidate passes (``CandidateEstimator``'s ``norm``)
CANDIDATE_NORMS = ('running', 'batch')
#: how a candidate is scored (``CandidateEstimator``'s ``reward``)
CANDIDATE_REWARDS = ('auto', 'cos_class', 'dot', 'match', 'match_all')


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_options(num_draws: int, magnitude_ops: int, magnitude_delta: float,
                   baseline: Optional[str] = None) -> None:
    if not _is_int(num_draws) or num_draws < 1:
        raise ValueError(f'num_draws must be an int >= 1 (sub-policies drawn per image), '
                         f'got {num_draws!r}')
    if not _is_int(magnitude_ops) or magnitude_ops not in MAGNITUDE_PAIR_COUNTS:
        raise ValueError(f'magnitude_ops must be one of {list(MAGNITUDE_PAIR_COUNTS)} (ops '
                         f'scored at two levels per drawn sub-policy), got {magnitude_ops!r}')
    try:
        delta = float(magnitude_delta)
    except (TypeError, ValueError):
        delta = float('nan')
    if not 0.0 <= delta <= 0.5:
        raise ValueError(f'magnitude_delta must be in [0, 0.5] (a level step), got '
                         f'{magnitude_delta!r}')
    if magnitude_ops > 0 and delta == 0.0:
        raise ValueError('magnitude_delta must be > 0 when magnitude_ops > 0 (the two '
                         f'levels are m - delta and m + delta), got {magnitude_delta!r}')
    if baseline is not None:
        if baseline not in CANDIDATE_BASELINES:
            raise ValueError(f'baseline must be one of {list(CANDIDATE_BASELINES)}, got '
                             f'{baseline!r}')
        if baseline == 'loo' and num_draws < 2:
            raise ValueError("baseline='loo' needs num_draws >= 2 (the other draws of the "
                             f"image are the baseline), got num_draws={num_draws}; use "
                             "baseline='clean' for one draw")


@torch.no_grad()
def draw_candidates(params: PolicyParameters, num_images: int, generator: torch.Generator,
                    num_draws: int = 3, magnitude_ops: int = 1, magnitude_delta: float = 0.1,
                    eps: float = 1e-6) -> CandidateSet:
    """Draw the candidate sets of S images from the current policy.

    All randomness comes from ``generator`` (on the parameters' device), in a fixed order:
    the M sub-policies per image, the level jitter, the op of each magnitude pair and the
    other op's apply bit. ``magnitude_delta`` is the smoothing half-width and the level step
    (0: no smoothing, and then ``magnitude_ops`` must be 0).
    """
    _check_options(num_draws, magnitude_ops, magnitude_delta)
    if not _is_int(num_images) or num_images < 1:
        raise ValueError(f'num_images must be an int >= 1, got {num_images!r}')
    s, m, o, delta = num_images, num_draws, magnitude_ops, float(magnitude_delta)
    theta = params.selection_probs().detach()
    dev, dtype = theta.device, theta.dtype
    probs = params.clamped_probs(eps).detach()
    mags = params.clamped_magnitudes().detach()
    draws = torch.multinomial(theta, s * m, replacement=True, generator=generator).view(s, m)
    u = (2.0 * torch.rand(s, m, 2, generator=generator, device=dev, dtype=dtype) - 1.0) * delta
    jittered = (mags[draws] + u).clamp(0.0, 1.0)                              # [S, M, 2]
    if o == 1:
        op = (torch.rand(s, m, 1, generator=generator, device=dev, dtype=dtype) < 0.5).long()
    else:
        op = torch.arange(o, device=dev).expand(s, m, o)
    other_on = (torch.rand(s, m, o, generator=generator, device=dev, dtype=dtype)
                < probs[draws].gather(2, 1 - op)).to(dtype)                   # [S, M, O]

    pat = torch.tensor(PATTERNS, device=dev, dtype=dtype)                     # [3, 2]
    k_cols = [draws[:, :1], draws.repeat_interleave(3, dim=1)]
    b_cols = [torch.zeros(s, 1, 2, device=dev, dtype=dtype),
              pat.expand(s, m, 3, 2).reshape(s, 3 * m, 2)]
    lvl_cols = [mags[draws[:, :1]], jittered[:, :, None].expand(s, m, 3, 2).reshape(s, 3 * m, 2)]
    if o > 0:
        one_hot = torch.nn.functional.one_hot(op, 2).to(dtype)                # [S, M, O, 2]
        b_mag = one_hot + (1 - one_hot) * other_on[..., None]                 # [S, M, O, 2]
        centre = mags[draws][:, :, None].expand(s, m, o, 2)
        step = torch.tensor([delta, -delta], device=dev, dtype=dtype)         # r+, r-
        at_step = (centre[:, :, :, None] + step[:, None]).clamp(0.0, 1.0)     # [S, M, O, 2, 2]
        base = jittered[:, :, None, None].expand(s, m, o, 2, 2)
        mask = one_hot[:, :, :, None].expand(s, m, o, 2, 2) > 0.5
        k_cols.append(draws[:, :, None].expand(s, m, 2 * o).reshape(s, 2 * o * m))
        b_cols.append(b_mag[:, :, :, None].expand(s, m, o, 2, 2).reshape(s, 2 * o * m, 2))
        lvl_cols.append(torch.where(mask, at_step, base).reshape(s, 2 * o * m, 2))
    return CandidateSet(k=torch.cat(k_cols, 1), b=torch.cat(b_cols, 1),
                        levels=torch.cat(lvl_cols, 1), draws=draws, magnitude_op=op,
                        magnitude_delta=delta, eps=float(eps))


@DADA_ESTIMATORS.register_module(name='candidates')
class CandidateEstimator(PolicyGradientEstimator):
    """Policy gradient from the rewards of several candidates of each scored image.

    Call ``est(rewards, candidates, params)`` with ``rewards`` [S, K] (one per candidate of
    ``candidates``, a :class:`CandidateSet` from :meth:`draw` / :func:`draw_candidates`
    for the same ``params``). Returns a :class:`GradientEstimate` for alpha, p *and* m
    (``grad_magnitudes``; zero where no magnitude pair was scored, all zero when
    ``magnitude_ops = 0``), per image and averaged; unbiased for ``J_delta`` (module
    docstring; derivation: docs/method.md).

    Args:
        num_draws: M, sub-policies drawn per image (3 patterns each).
        magnitude_ops: O in {0, 1, 2}, ops scored at two levels per drawn sub-policy.
        magnitude_delta: delta, the level step and the half-width of the level smoothing.
        baseline: ``'loo'`` (mean of the image's other draws; needs M >= 2) or
            ``'clean'`` (the image's clean reward) for the alpha term.
        num_images: S, training images scored per policy step by ``DADASearchHook`` (the
            first S of the batch; ``S * K`` candidate images are evaluated).
        norm: how ``DADASearchHook`` normalises the candidates' BatchNorm layers:
            ``'running'`` (eval mode, the running statistics: each candidate's loss
            depends on that candidate alone, so the estimate is unbiased for ``J_delta``)
            or ``'batch'`` (train mode over all S * K candidates, as a training batch is
            normalised; the candidates then share statistics and the estimate is exact
            for no stated objective).
        reward: what ``DADASearchHook`` scores a candidate by (lower is better):
            ``'match'``: the policy's expected gradient matched to the held-out gradient
            on a classifier's logit layer (``gradient_matching.py``), one forward pass per
            candidate and one of the held-out batch, no backward; on a detector the
            same objective in all trainable weights, from one backward pass of the
            candidates' losses and two more forward passes per candidate
            (``detection.detection_match_scores``). ``'match_all'``: that objective in
            all trainable weights of a classifier too (Deep AutoAugment's form), at
            ``'dot'``'s cost plus one backward pass of the candidates and two more forward
            passes per candidate (``gradient_matching.weight_space_match_scores``). ``'dot'``: the
            paper's second-order reward, ``-xi`` times the inner product of the
            candidate's loss gradient with the held-out gradient, by central finite
            differences (two forward passes, no per-sample gradients);
            any model, detectors included. ``'cos_class'``: minus the cosine between the
            candidate's own loss gradient and the held-out gradient of its class (Deep
            AutoAugment's form, from per-sample gradients; images of a class absent from
            the held-out batch use the whole batch's gradient). ``'auto'`` (the default):
            the hook picks ``'match'`` where it can score the model
            (``gradient_matching.resolve_reward``: a classifier whose head's logit layer
            is a trainable ``nn.Linear`` under softmax cross-entropy, with
            ``norm='running'``) and ``'dot'`` elsewhere. On the policy-quality benchmark
            'match' finds more planted shifts than 'dot' (29 of 42 against 27) at under
            half its cost per update (docs/benchmarks.md).
        signs: how ``DADASearchHook`` signs a candidate's signed ops (ShearX/Y,
            TranslateX/Y, Rotate): ``'draw'``, one random sign per drawn sub-policy, shared
            by its columns; ``'both'``, every candidate that applies a signed op is scored
            at both signs and its reward averaged (:class:`SignMirror`: the exact
            expectation over the sign, at one more candidate pass for each such
            candidate).
    """
    name = 'candidates'
    needs_candidates = True

    def __init__(self, num_draws: int = 3, magnitude_ops: int = 1,
                 magnitude_delta: float = 0.1, baseline: str = 'loo',
                 num_images: int = 8, norm: str = 'running',
                 reward: str = 'auto', signs: str = 'draw') -> None:
        _check_options(num_draws, magnitude_ops, magnitude_delta, baseline)
        if not _is_int(num_images) or num_images < 1:
            raise ValueError(f'num_images must be an int >= 1 (training images scored per '
                             f'step), got {num_images!r}')
        if norm not in CANDIDATE_NORMS:
            raise ValueError(f'norm must be one of {list(CANDIDATE_NORMS)}, got {norm!r}')
        if reward not in CANDIDATE_REWARDS:
            raise ValueError(f'reward must be one of {list(CANDIDATE_REWARDS)}, got '
                             f'{reward!r}')
        if reward in ('cos_class', 'match', 'match_all') and norm != 'running':
            raise ValueError(f"reward={reward!r} scores each candidate's own gradient, "
                             "which needs BatchNorm on its running statistics: use "
                             "norm='running'")
        if signs not in CANDIDATE_SIGNS:
            raise ValueError(f'signs must be one of {list(CANDIDATE_SIGNS)}, got {signs!r}')
        self.reward, self.signs = reward, signs
        self.num_draws, self.magnitude_ops = num_draws, magnitude_ops
        self.magnitude_delta, self.baseline = float(magnitude_delta), baseline
        self.num_images, self.norm = num_images, norm

    @property
    def candidates_per_image(self) -> int:
        return 1 + 3 * self.num_draws + 2 * self.magnitude_ops * self.num_draws

    def draw(self, params: PolicyParameters, num_images: int, generator: torch.Generator,
             eps: float = 1e-6) -> CandidateSet:
        """The candidate sets of ``num_images`` images, with this estimator's options."""
        return draw_candidates(params, num_images, generator, self.num_draws,
                               self.magnitude_ops, self.magnitude_delta, eps)

    def _validate(self, rewards: Tensor, candidates: CandidateSet,
                  params: PolicyParameters) -> Tensor:
        if not isinstance(candidates, CandidateSet):
            raise TypeError('the candidates estimator takes a CandidateSet (from '
                            'draw_candidates or CandidateEstimator.draw) as its second '
                            f'argument, got {type(candidates).__name__}')
        m, o = candidates.num_draws, candidates.magnitude_ops
        _check_options(m, o, candidates.magnitude_delta, self.baseline)
        expect = (candidates.num_images, 1 + 3 * m + 2 * o * m)
        if tuple(candidates.k.shape) != expect:
            raise ValueError(f'candidates.k has shape {tuple(candidates.k.shape)}, expected '
                             f'[S, 1 + 3M + 2OM] = {list(expect)}')
        rewards = torch.as_tensor(rewards).detach()
        if tuple(rewards.shape) != expect:
            raise ValueError(f'rewards has shape {tuple(rewards.shape)}, expected [S, K] = '
                             f'{list(expect)} (one per candidate of candidates)')
        n = params.num_sub_policies
        if int(candidates.draws.max()) >= n or int(candidates.draws.min()) < 0:
            raise ValueError(f'candidates.draws must be sub-policy indices in [0, {n}) of '
                             f'params, got values up to {int(candidates.draws.max())}')
        return rewards.to(params.alpha.dtype)

    @torch.no_grad()
    def __call__(self, f: Tensor, sample: CandidateSet, params: PolicyParameters,
                 control_variate: Optional[torch.nn.Module] = None) -> GradientEstimate:
        rewards = self._validate(f, sample, params)
        cand = sample
        s, m, o = cand.num_images, cand.num_draws, cand.magnitude_ops
        n = params.num_sub_policies
        theta = params.selection_probs().detach()
        p = params.clamped_probs(cand.eps).detach()[cand.draws]               # [S, M, 2]
        p1, p2 = p[..., 0], p[..., 1]
        r0 = rewards[:, :1]                                                   # [S, 1]
        r10, r01, r11 = rewards[:, 1:1 + 3 * m].view(s, m, 3).unbind(-1)      # [S, M] each
        # exact expectation over the four apply patterns, and its exact p-derivatives
        big_r = ((1 - p1) * (1 - p2) * r0 + p1 * (1 - p2) * r10 + (1 - p1) * p2 * r01
                 + p1 * p2 * r11)
        d_p = torch.stack([(1 - p2) * (r10 - r0) + p2 * (r11 - r01),
                           (1 - p1) * (r01 - r0) + p1 * (r11 - r10)], -1)     # [S, M, 2]
        gp = rewards.new_zeros(s, n, 2).scatter_add_(
            1, cand.draws[..., None].expand(s, m, 2), d_p / m)
        if self.baseline == 'loo':
            base = (big_r.sum(1, keepdim=True) - big_r) / (m - 1)
        else:
            base = r0.expand(s, m)
        adv = (big_r - base) / m                                              # [S, M]
        ga = (rewards.new_zeros(s, n).scatter_add_(1, cand.draws, adv)
              - adv.sum(1, keepdim=True) * theta)
        gm = rewards.new_zeros(s, n * 2)
        if o > 0:
            r_pm = rewards[:, 1 + 3 * m:].view(s, m, o, 2)
            fd = (r_pm[..., 0] - r_pm[..., 1]) / (2.0 * cand.magnitude_delta)  # [S, M, O]
            weight = (2.0 / o) / m
            gm.scatter_add_(1, (cand.draws[..., None] * 2 + cand.magnitude_op).reshape(s, -1),
                            (weight * p.gather(2, cand.magnitude_op) * fd).reshape(s, -1))
        gm = gm.view(s, n, 2)
        stats: Dict[str, float] = dict(
            clean_reward_mean=r0.mean().item(),
            augment_gain=(big_r - r0).mean().item(),
            candidates_per_image=float(cand.num_candidates))
        if o > 0:
            stats['magnitude_per_sample_variance'] = (
                gm.reshape(s, -1).var(0).mean().item() if s > 1 else float('nan'))
        out = _finish(ga, gp, rewards.reshape(-1), stats)
        out.grad_magnitudes, out.per_sample_magnitudes = gm.mean(0), gm
        return out

