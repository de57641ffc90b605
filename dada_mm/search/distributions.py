"""Sampling the augmentation policy, with the relaxed variables RELAX needs.

One draw per image (B independent draws for a batch of B images). The official code draws a
single (k, b) for the whole batch (docs/method.md); independent draws give B independent
score-function terms per step, so the averaged gradient estimate has ~B times less variance
at the same cost.

Per image i the draw is:

* ``k_i ~ Categorical(softmax(alpha))`` by Gumbel-max: ``z = log_softmax(alpha) + G``,
  ``k = argmax z``.
* For every (sub-policy, op) a logistic relaxation ``z = logit(p) + logit(u)``; the hard
  on/off of the selected sub-policy's two ops is ``b = 1[z[k] > 0]``.
* Conditional relaxations ``z_tilde ~ p(z | k, b)`` (the REBAR/RELAX construction).
  Only the selected sub-policy's two Bernoulli entries are conditioned on ``b``; the other
  ``2(N-1)`` entries are left equal to ``z`` (the same noise). This is still an exact sample
  of ``p(z | k, b_k)``: those entries' noise is independent of the categorical noise and of
  row k's noise, so conditioning on (k, b_k) does not change their distribution; and RELAX is
  unbiased for any coupling of z and z_tilde as long as z_tilde | (k, b_k) has the right law.
  Sharing the noise makes ``grad c(z) - grad c(z_tilde)`` cancel on those entries (lower
  variance). The unselected bits never reach f, so they are not part of the discrete
  variable whose score is taken.

``log_prob`` is ``log softmax(alpha)_k + sum_j log Bern(b_j; p_kj)`` over the *selected*
sub-policy's two ops only. Deviation from the official code (docs/method.md), which sums the
Bernoulli log-probs of all 210 ops and broadcasts the categorical term over them (scaling the
alpha score term x210 and adding pure-noise score terms for the 208 bits f never sees).

All noise comes from a caller-supplied ``torch.Generator`` (determinism, resumable by saving
the generator state) and is kept in the sample, so the relaxed variables can be recomputed
as differentiable functions of any copy of the parameters (the estimators do this to get
per-sample gradients in a single backward pass).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Bernoulli, Categorical

from .policy_params import PolicyParameters

__all__ = ['PolicyNoise', 'PolicySample', 'draw_noise', 'relaxed_logits', 'policy_log_prob',
           'sample_policy']


@dataclass
class PolicyNoise:
    """Uniform noise behind one batch of draws (all clamped to [eps, 1-eps])."""
    u_cat: Tensor   #: [B, N] categorical noise for z
    v_cat: Tensor   #: [B, N] categorical noise for z_tilde
    u_bern: Tensor  #: [B, N, 2] Bernoulli noise for z
    v_bern: Tensor  #: [B, N, 2] Bernoulli noise for z_tilde


@dataclass
class PolicySample:
    """B independent policy draws.

    Attributes:
        k: [B] long, selected sub-policy per image (hard, Gumbel-max).
        b: [B, 2] float in {0, 1}, on/off of the selected sub-policy's two ops.
        z_cat: [B, N] Gumbel logits ``log softmax(alpha) + G`` (``argmax == k``).
        z_cat_tilde: [B, N] conditional Gumbel logits given k (``argmax == k``).
        z_bern: [B, N, 2] logistic logits of all ops (``z_bern[i, k_i] > 0 == b_i``).
        z_bern_tilde: [B, N, 2] conditional logits: row k_i conditioned on b_i, the other
            rows equal to ``z_bern`` (see the module docstring for why this is unbiased).
        log_prob: [B] ``log softmax(alpha)_k + sum_j log Bern(b_j; p_kj)``.
        tau: relaxation temperature (relaxed values are ``softmax(z/tau)``, ``sigmoid(z/tau)``).
        eps: clamp used for probabilities and noise.
        noise: the uniform noise, to recompute the relaxed variables from other parameters.

    ``z_*`` and ``log_prob`` are differentiable w.r.t. ``alpha`` and ``probs`` of the
    parameters they were sampled from (unless sampled with ``requires_grad=False``).
    """
    k: Tensor
    b: Tensor
    z_cat: Tensor
    z_cat_tilde: Tensor
    z_bern: Tensor
    z_bern_tilde: Tensor
    log_prob: Tensor
    tau: float
    eps: float
    noise: PolicyNoise

    @property
    def batch_size(self) -> int:
        return int(self.k.shape[0])

    @property
    def num_sub_policies(self) -> int:
        return int(self.z_cat.shape[-1])

    def relaxed(self, tilde: bool = False) -> Tuple[Tensor, Tensor]:
        """(softmax(z_cat/tau) [B, N], sigmoid(z_bern/tau) [B, N, 2]) of z or z_tilde."""
        zc, zb = (self.z_cat_tilde, self.z_bern_tilde) if tilde else (self.z_cat, self.z_bern)
        return torch.softmax(zc / self.tau, dim=-1), torch.sigmoid(zb / self.tau)


def _uniform(shape, generator: torch.Generator, device, dtype, eps: float) -> Tensor:
    return torch.rand(shape, generator=generator, device=device, dtype=dtype).clamp_(
        eps, 1.0 - eps)


def draw_noise(batch_size: int, num_sub_policies: int, generator: torch.Generator,
               dtype: torch.dtype = torch.float32, eps: float = 1e-6) -> PolicyNoise:
    """Draw all uniform noise for B draws, in a fixed order, on the generator's device."""
    dev = generator.device
    b, n = int(batch_size), int(num_sub_policies)
    return PolicyNoise(u_cat=_uniform((b, n), generator, dev, dtype, eps),
                       v_cat=_uniform((b, n), generator, dev, dtype, eps),
                       u_bern=_uniform((b, n, 2), generator, dev, dtype, eps),
                       v_bern=_uniform((b, n, 2), generator, dev, dtype, eps))


def _one_hot_mask(k: Tensor, n: int) -> Tensor:
    return F.one_hot(k, n).bool()


def relaxed_logits(alpha: Tensor, probs: Tensor, noise: PolicyNoise, k: Tensor,
                   b: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Relaxed and conditional relaxed logits as differentiable functions of the parameters.

    Args:
        alpha: [N] or per-sample [B, N] selection logits.
        probs: [N, 2] or [B, N, 2] apply probabilities, already clamped to (0, 1).
        noise: the draw's uniform noise.
        k, b: the hard draw the conditionals are conditioned on.

    Returns:
        ``(z_cat, z_cat_tilde, z_bern, z_bern_tilde)``.

    The conditional Bernoulli logits use an algebraically equal, cancellation-free form of
    ``logit(p) + logit(v')`` with ``v' = 1-p + v p`` (b=1) or ``v' = v (1-p)`` (b=0):
    ``z~ = softplus(logit(p) + log v) - log(1-v)`` for b=1 and its mirror image for b=0, so
    that ``sign(z~) == b`` holds exactly in floating point.
    """
    n = noise.u_cat.shape[-1]
    # categorical (Gumbel) relaxation
    log_theta = torch.log_softmax(alpha, dim=-1)
    gumbel = -torch.log(-torch.log(noise.u_cat))
    z_cat = log_theta + gumbel
    sel = _one_hot_mask(k, n)                                # [B, N]
    e_v = -torch.log(noise.v_cat)                            # Exp(1) noise, > 0
    e_vk = e_v.gather(1, k[:, None])                         # [B, 1]
    # z~_j = -log(e_vj / theta_j + e_vk) for j != k, z~_k = -log(e_vk)
    other = -torch.logaddexp(torch.log(e_v) - log_theta, torch.log(e_vk))
    z_cat_tilde = torch.where(sel, -torch.log(e_vk).expand_as(other), other)
    # Bernoulli (logistic) relaxation
    lam = torch.log(probs) - torch.log1p(-probs)
    z_bern = lam + torch.log(noise.u_bern) - torch.log1p(-noise.u_bern)
    v = noise.v_bern
    log_v, log_1mv = torch.log(v), torch.log1p(-v)
    on = F.softplus(lam + log_v) - log_1mv                  # z~ given b=1 (> 0)
    off = -(F.softplus(log_v - lam) - log_1mv)              # z~ given b=0 (< 0)
    bb = b[:, None, :].to(dtype=z_bern.dtype).expand_as(z_bern) > 0.5
    cond = torch.where(bb, on, off)
    z_bern_tilde = torch.where(sel[..., None].expand_as(z_bern), cond, z_bern)
    return z_cat, z_cat_tilde, z_bern, z_bern_tilde


def policy_log_prob(alpha: Tensor, probs: Tensor, k: Tensor, b: Tensor) -> Tensor:
    """[B] log P(k, b) = log softmax(alpha)_k + sum_j log Bern(b_j; p_kj).

    ``alpha`` is [N] or [B, N]; ``probs`` (clamped) is [N, 2] or [B, N, 2]. Only the selected
    sub-policy's Bernoullis enter (the bits of other sub-policies never reach f).
    """
    bidx = torch.arange(k.shape[0], device=k.device)
    p_sel = probs[k] if probs.dim() == 2 else probs[bidx, k]        # [B, 2]
    return (Categorical(logits=alpha).log_prob(k)
            + Bernoulli(probs=p_sel, validate_args=False).log_prob(b.to(p_sel.dtype)).sum(-1))


def sample_policy(params: PolicyParameters, batch_size: int, generator: torch.Generator,
                  tau: float = 0.5, eps: float = 1e-6, requires_grad: bool = True
                  ) -> PolicySample:
    """Draw B independent (k, b) with their relaxations; all randomness from ``generator``.

    The generator must live on the parameters' device. ``requires_grad=False`` returns
    detached tensors (cheaper when only the hard draw is needed, e.g. to augment images).
    """
    alpha, probs = params.alpha, params.clamped_probs(eps)
    noise = draw_noise(batch_size, params.num_sub_policies, generator, dtype=alpha.dtype, eps=eps)
    with torch.set_grad_enabled(requires_grad and torch.is_grad_enabled()):
        with torch.no_grad():
            log_theta = torch.log_softmax(alpha, dim=-1)
            k = (log_theta - torch.log(-torch.log(noise.u_cat))).argmax(dim=-1)
            u_sel = noise.u_bern.gather(1, k[:, None, None].expand(-1, 1, 2)).squeeze(1)
            lam = torch.log(probs) - torch.log1p(-probs)
            z_sel = lam[k] + torch.log(u_sel) - torch.log1p(-u_sel)   # same ops as z_bern
            b = (z_sel > 0).to(alpha.dtype)
        z_cat, z_cat_t, z_bern, z_bern_t = relaxed_logits(alpha, probs, noise, k, b)
        log_prob = policy_log_prob(alpha, probs, k, b)
    return PolicySample(k=k, b=b, z_cat=z_cat, z_cat_tilde=z_cat_t, z_bern=z_bern,
                        z_bern_tilde=z_bern_t, log_prob=log_prob, tau=float(tau),
                        eps=float(eps), noise=noise)
