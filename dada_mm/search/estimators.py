"""Gradient estimators for ``grad_(alpha, probs) E[mean_i f_i]`` under the policy distribution.

Three estimators share one call signature, ``est(f, sample, params, control_variate=None)``,
and are registered by name in the ``DADA_ESTIMATORS`` registry (``registry.py``) so a
config can pick ``estimator=dict(type='relax' | 'reinforce' | 'gumbel_st', **options)``:

* ``relax`` (RELAX, Grathwohl et al. 2018; the paper's estimator) - unbiased; the control
  variate really acts here because f is passed in as a per-sample scalar reward (in the
  official code it cancels in the w+/w- finite difference; docs/method.md).
* ``reinforce`` - plain score function, optional moving-average baseline. Unbiased; the
  reference (and what the official unrolled update effectively is).
* ``gumbel_st`` - Gumbel-softmax straight-through (the paper's ablation). Biased.

A fourth, ``candidates`` (``candidates.py``, registered there), scores several candidates of
each image instead of one draw: it takes a ``CandidateSet`` in place of the ``PolicySample``
and rewards [S, K] (one per candidate), and also returns a gradient for the magnitudes.
Estimators of that kind have ``needs_candidates = True``.

``f`` is the per-sample reward [B] (detached; in the search the per-sample finite-difference
hyper-gradient of the training loss). The result is the estimate of the gradient of E[f]
(ascent direction): if f is a loss to minimise, the estimate is directly the ``.grad`` to put
on the parameters (``GradientEstimate.apply_to``).

Per-sample gradients are obtained in ONE backward pass by differentiating w.r.t. per-sample
copies of the parameters (sample i only touches row i), which gives exact per-sample
variance statistics and the per-sample variance loss for phi at no extra cost.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Dict, Mapping, Optional, Tuple, Type, Union

import torch
from torch import Tensor

from .control_variate import RelaxControlVariate
from .distributions import PolicySample, policy_log_prob, relaxed_logits
from .policy_params import PolicyParameters, straight_through_clamp
from .registry import DADA_ESTIMATORS

__all__ = ['GradientEstimate', 'PolicyGradientEstimator', 'RelaxEstimator',
           'ReinforceEstimator', 'GumbelStraightThroughEstimator', 'ESTIMATORS',
           'build_estimator', 'gumbel_straight_through_weights']

Reward = Union[Tensor, Callable[[Tensor], Tensor]]


@dataclass
class GradientEstimate:
    """Output of an estimator.

    Attributes:
        grad_alpha: [N] estimate of d E[mean f] / d alpha (batch mean of the per-sample ones).
        grad_probs: [N, 2] same for the raw ``probs``.
        per_sample_alpha: [B, N] per-sample estimates (detached).
        per_sample_probs: [B, N, 2] per-sample estimates (detached).
        stats: floats: ``reward_mean``, ``reward_std``, ``per_sample_variance`` (mean over the
            3N entries of the across-sample variance), ``batch_variance`` (the same divided
            by B: variance of ``grad_*``), ``grad_norm``; RELAX adds ``cv_z``,
            ``cv_z_tilde`` (mean control-variate values) and ``variance_loss``.
        control_variate_grads: RELAX only, with ``train_control_variate=True``: gradients of
            the variance loss w.r.t. ``control_variate.parameters()`` (same order).
        grad_magnitudes: [N, 2] estimate of d E[mean f] / d magnitudes, from estimators that
            score levels (``candidates``); None for the others.
        per_sample_magnitudes: [B, N, 2] its per-sample estimates; None for the others.
    """
    grad_alpha: Tensor
    grad_probs: Tensor
    per_sample_alpha: Tensor
    per_sample_probs: Tensor
    stats: Dict[str, float] = field(default_factory=dict)
    control_variate_grads: Optional[Tuple[Tensor, ...]] = None
    grad_magnitudes: Optional[Tensor] = None
    per_sample_magnitudes: Optional[Tensor] = None

    def apply_to(self, params: PolicyParameters,
                 control_variate: Optional[torch.nn.Module] = None) -> None:
        """Accumulate the estimates into ``params.alpha/probs.grad`` (and phi's ``.grad``,
        and ``params.magnitudes.grad`` when ``grad_magnitudes`` is set)."""
        pairs = [(params.alpha, self.grad_alpha), (params.probs, self.grad_probs)]
        if self.grad_magnitudes is not None:
            pairs.append((params.magnitudes, self.grad_magnitudes))
        if control_variate is not None and self.control_variate_grads is not None:
            pairs += list(zip(control_variate.parameters(), self.control_variate_grads))
        for p, g in pairs:
            g = g.detach().to(p.dtype)
            p.grad = g.clone() if p.grad is None else p.grad + g


def _as_reward(f: Tensor, batch_size: int) -> Tensor:
    f = torch.as_tensor(f).detach().reshape(-1)
    if f.numel() != batch_size:
        raise ValueError(f'reward has {f.numel()} entries, expected one per draw ({batch_size})')
    return f


def _per_sample_leaves(params: PolicyParameters, sample: PolicySample) -> Tuple[Tensor, Tensor]:
    """Per-sample copies [B, N], [B, N, 2] of alpha and raw probs (leaves requiring grad)."""
    bsz = sample.batch_size
    alpha = params.alpha.detach().unsqueeze(0).expand(bsz, -1).clone().requires_grad_(True)
    probs = params.probs.detach().unsqueeze(0).expand(bsz, -1, -1).clone().requires_grad_(True)
    return alpha, probs


def _finish(ga: Tensor, gp: Tensor, f: Tensor, stats: Dict[str, float]) -> GradientEstimate:
    ga, gp = ga.detach(), gp.detach()
    bsz = ga.shape[0]
    flat = torch.cat([ga.reshape(bsz, -1), gp.reshape(bsz, -1)], dim=1)
    var = flat.var(dim=0).mean().item() if bsz > 1 else float('nan')
    mean_a, mean_p = ga.mean(0), gp.mean(0)
    stats = dict(stats)
    stats.update(reward_mean=f.mean().item(),
                 reward_std=f.std().item() if bsz > 1 else 0.0,
                 per_sample_variance=var, batch_variance=var / bsz,
                 grad_norm=torch.cat([mean_a.reshape(-1), mean_p.reshape(-1)]).norm().item())
    return GradientEstimate(grad_alpha=mean_a, grad_probs=mean_p, per_sample_alpha=ga,
                            per_sample_probs=gp, stats=stats)


class PolicyGradientEstimator:
    """Common interface: ``__call__(f, sample, params, control_variate=None)``.

    ``needs_candidates``: False for the one-draw-per-image estimators (``sample`` is a
    ``PolicySample``, ``f`` [B]); True for those that take a ``CandidateSet`` and rewards
    [S, K] (``candidates.py``).
    """
    name = ''
    needs_candidates = False

    def __call__(self, f: Reward, sample: PolicySample, params: PolicyParameters,
                 control_variate: Optional[RelaxControlVariate] = None) -> GradientEstimate:
        raise NotImplementedError

    def state_dict(self) -> Dict[str, object]:
        return {}

    def load_state_dict(self, state: Dict[str, object]) -> None:
        pass


@DADA_ESTIMATORS.register_module(name='relax')
class RelaxEstimator(PolicyGradientEstimator):
    """RELAX: ``g_i = [f_i - c(z~_i)] grad log P_i + grad c(z_i) - grad c(z~_i)``, averaged.

    Unbiased for any phi. With ``train_control_variate=True`` it also returns
    ``d/dphi mean_i mean_entries(g_i^2)``, the single-sample variance gradient of the RELAX
    paper (E[g] does not depend on phi, so this is the gradient of the variance; using the
    per-sample g_i rather than the batch mean only rescales Var by B and averages B
    independent variance gradients). Put it in phi's ``.grad`` and step phi's optimiser.
    """
    name = 'relax'

    def __init__(self, train_control_variate: bool = True) -> None:
        self.train_control_variate = bool(train_control_variate)

    @torch.enable_grad()
    def __call__(self, f: Reward, sample: PolicySample, params: PolicyParameters,
                 control_variate: Optional[RelaxControlVariate] = None) -> GradientEstimate:
        if control_variate is None:
            raise ValueError('RELAX needs a control variate (RelaxControlVariate)')
        if callable(f) and not isinstance(f, Tensor):
            raise TypeError('RELAX takes the per-sample reward tensor, not a callable')
        f = _as_reward(f, sample.batch_size)
        tau, cv = sample.tau, control_variate
        alpha, probs_raw = _per_sample_leaves(params, sample)
        probs = straight_through_clamp(probs_raw, sample.eps, 1.0 - sample.eps)
        z_cat, zt_cat, z_bern, zt_bern = relaxed_logits(alpha, probs, sample.noise, sample.k,
                                                        sample.b)
        logp = policy_log_prob(alpha, probs, sample.k, sample.b)
        c_z = cv(z_cat, z_bern, tau)
        c_zt = cv(zt_cat, zt_bern, tau)
        # same value, constant in theta but not in phi: the coefficient of the score term
        c_zt_coef = cv(zt_cat.detach(), zt_bern.detach(), tau)
        surrogate = ((f.to(logp.dtype) - c_zt_coef) * logp + c_z - c_zt).sum()
        train = self.train_control_variate
        ga, gp = torch.autograd.grad(surrogate, [alpha, probs_raw], create_graph=train)
        stats = dict(cv_z=c_z.mean().item(), cv_z_tilde=c_zt.mean().item())
        cv_grads = None
        if train:
            var_loss = (ga.pow(2).sum() + gp.pow(2).sum()) / (ga.numel() + gp.numel())
            cv_params = [p for p in cv.parameters()]
            cv_grads = tuple(g.detach() if g is not None else torch.zeros_like(p)
                             for g, p in zip(torch.autograd.grad(var_loss, cv_params,
                                                                 allow_unused=True),
                                             cv_params))
            stats['variance_loss'] = var_loss.item()
        out = _finish(ga, gp, f, stats)
        out.control_variate_grads = cv_grads
        return out


@DADA_ESTIMATORS.register_module(name='reinforce')
class ReinforceEstimator(PolicyGradientEstimator):
    """Score function: ``g = mean_i (f_i - baseline) grad log P_i``.

    ``baseline_momentum=None`` (default) is plain REINFORCE with no baseline, the reference.
    Otherwise an exponential moving average of past batch-mean rewards, updated *after* use
    so that it never depends on the current draws (unbiased); it starts at 0.
    """
    name = 'reinforce'

    def __init__(self, baseline_momentum: Optional[float] = None) -> None:
        self.baseline_momentum = baseline_momentum
        self.baseline: Optional[float] = None

    @torch.enable_grad()
    def __call__(self, f: Reward, sample: PolicySample, params: PolicyParameters,
                 control_variate: Optional[RelaxControlVariate] = None) -> GradientEstimate:
        f = _as_reward(f, sample.batch_size)
        alpha, probs_raw = _per_sample_leaves(params, sample)
        probs = straight_through_clamp(probs_raw, sample.eps, 1.0 - sample.eps)
        logp = policy_log_prob(alpha, probs, sample.k, sample.b)
        base = 0.0
        if self.baseline_momentum is not None and self.baseline is not None:
            base = self.baseline
        ga, gp = torch.autograd.grad(((f.to(logp.dtype) - base) * logp).sum(),
                                     [alpha, probs_raw])
        if self.baseline_momentum is not None and bool(torch.isfinite(f).all()):
            # a non-finite reward (that step is skipped by the caller) must not poison the
            # baseline of every later step
            m, fm = float(self.baseline_momentum), f.mean().item()
            self.baseline = fm if self.baseline is None else m * self.baseline + (1 - m) * fm
        return _finish(ga, gp, f, dict(baseline=base))

    def state_dict(self) -> Dict[str, object]:
        return dict(baseline=self.baseline)

    def load_state_dict(self, state: Dict[str, object]) -> None:
        self.baseline = state.get('baseline')


def _st_weights(alpha: Tensor, probs: Tensor, sample: PolicySample, tau: float) -> Tensor:
    z_cat, _, z_bern, _ = relaxed_logits(alpha, probs, sample.noise, sample.k, sample.b)
    k = sample.k
    soft_w = torch.softmax(z_cat / tau, dim=-1).gather(1, k[:, None]).squeeze(1)   # [B]
    w_k = 1.0 + (soft_w - soft_w.detach())                                         # value 1
    soft_beta = torch.sigmoid(z_bern.gather(1, k[:, None, None].expand(-1, 1, 2)).squeeze(1) / tau)
    b = sample.b.to(soft_beta.dtype)
    beta = b + (soft_beta - soft_beta.detach())                                    # value b
    factor = torch.where(b > 0.5, beta, 1.0 - beta)                                # value 1
    return w_k * factor.prod(dim=-1)


def gumbel_straight_through_weights(sample: PolicySample, params: PolicyParameters,
                                    tau: Optional[float] = None) -> Tensor:
    """Per-sample straight-through weights [B] for the Gumbel-ST ablation.

    ``W_i = w_k * prod_j (beta_j if b_j else 1 - beta_j)`` where ``w = onehot(k) + softmax(z/tau)
    - stopgrad(.)`` and ``beta = b + sigmoid(z_b/tau) - stopgrad(.)``, built from the same noise
    as the hard draw. In the forward pass every ``W_i == 1`` exactly; the backward pass sends
    the relaxed gradients to alpha and probs. The search multiplies ``W_i`` into image i's
    loss, so ``dL/dtheta = sum_i L_i dW_i/dtheta``. This is the scalar version of the
    official mixture (which adds unrealised branches as constant-one images); it is biased:
    the relaxation gradient is not the gradient of E[f] (see the benchmark for the size).
    """
    tau = sample.tau if tau is None else float(tau)
    return _st_weights(params.alpha, params.clamped_probs(sample.eps), sample, tau)


@DADA_ESTIMATORS.register_module(name='gumbel_st')
class GumbelStraightThroughEstimator(PolicyGradientEstimator):
    """Gradient of ``mean_i f_i(W)`` with the straight-through weights W (biased).

    ``f`` is either a callable mapping the weights [B] to differentiable per-sample values [B]
    (a differentiable f), or a reward tensor [B], treated as ``f_i * W_i`` - exactly what the
    search realises by weighting the per-sample loss.
    """
    name = 'gumbel_st'

    def __init__(self, tau: Optional[float] = None) -> None:
        self.tau = tau

    @torch.enable_grad()
    def __call__(self, f: Reward, sample: PolicySample, params: PolicyParameters,
                 control_variate: Optional[RelaxControlVariate] = None) -> GradientEstimate:
        tau = sample.tau if self.tau is None else float(self.tau)
        alpha, probs_raw = _per_sample_leaves(params, sample)
        probs = straight_through_clamp(probs_raw, sample.eps, 1.0 - sample.eps)
        w = _st_weights(alpha, probs, sample, tau)
        if callable(f) and not isinstance(f, Tensor):
            values = f(w).reshape(-1)
        else:
            values = _as_reward(f, sample.batch_size).to(w.dtype) * w
        if values.numel() != sample.batch_size:
            raise ValueError('f(weights) must return one value per draw')
        ga, gp = torch.autograd.grad(values.sum(), [alpha, probs_raw], allow_unused=True)
        ga = torch.zeros_like(alpha) if ga is None else ga
        gp = torch.zeros_like(probs_raw) if gp is None else gp
        return _finish(ga, gp, values.detach(), {})


#: the registered estimators by name: a read-only view of ``DADA_ESTIMATORS``
ESTIMATORS: Mapping[str, Type[PolicyGradientEstimator]] = MappingProxyType(
    DADA_ESTIMATORS.module_dict)


def build_estimator(name: Union[str, Dict], **kwargs) -> PolicyGradientEstimator:
    """Build a registered estimator: ``build_estimator('relax', train_control_variate=False)``
    or ``build_estimator(dict(type='relax', ...))`` (``'relax' | 'reinforce' | 'gumbel_st'``,
    and ``'candidates'``, which ``candidates.py`` registers when ``dada_mm.search`` is
    imported). A KeyError lists the registered names, a ValueError an estimator's options.
    """
    cfg = dict(name, **kwargs) if isinstance(name, dict) else dict(type=name, **kwargs)
    return DADA_ESTIMATORS.build(cfg)
