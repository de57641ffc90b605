"""A toy reward whose exact policy gradient is known, for the estimator tests and
benchmarks: the reward depends on the draw only, through a table ``f[k, b1, b2]``.

``exact_expected_reward`` enumerates all N * 4 outcomes (sub-policy k, on/off of its two
ops), so its autograd gradient (``exact_gradient``) is the true gradient of E[f] that an
unbiased estimator must match on average.
"""
from __future__ import annotations

import itertools
from typing import Tuple

import torch
from torch import Tensor

from ..search.distributions import PolicySample
from ..search.policy_params import PolicyParameters

__all__ = ['table_reward', 'exact_expected_reward', 'exact_gradient']


def table_reward(table: Tensor, sample: PolicySample) -> Tensor:
    """[B] rewards ``table[k_i, b_i1, b_i2]`` for a reward table of shape [N, 2, 2]."""
    b = sample.b.long()
    return table[sample.k, b[:, 0], b[:, 1]]


def exact_expected_reward(params: PolicyParameters, table: Tensor,
                          eps: float = 1e-6) -> Tensor:
    """E[table[k, b]] enumerated over all N * 4 outcomes; differentiable in alpha and probs."""
    theta = params.selection_probs()
    p = params.clamped_probs(eps)
    total = theta.new_zeros(())
    for b1, b2 in itertools.product((0, 1), repeat=2):
        pb = (p[:, 0] if b1 else 1 - p[:, 0]) * (p[:, 1] if b2 else 1 - p[:, 1])
        total = total + (theta * pb * table[:, b1, b2].to(theta.dtype)).sum()
    return total


def exact_gradient(params: PolicyParameters, table: Tensor, eps: float = 1e-6
                   ) -> Tuple[Tensor, Tensor]:
    """Exact (d/dalpha, d/dprobs) of ``exact_expected_reward`` by autograd."""
    ga, gp = torch.autograd.grad(exact_expected_reward(params, table, eps),
                                 [params.alpha, params.probs])
    return ga.detach(), gp.detach()
