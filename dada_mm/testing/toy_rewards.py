"""A toy reward whose exact policy gradient is known, for the estimator tests and
benchmarks: the reward depends on the draw only, through a table ``f[k, b1, b2]``.

``exact_expected_reward`` enumerates all N * 4 outcomes (sub-policy k, on/off of its two
ops), so its autograd gradient (``exact_gradient``) is the true gradient of E[f] that an
unbiased estimator must match on average.

``ImageRewardToy`` is the per-image version for the candidate-scoring estimator: a reward
``r[image, k, b1, b2]`` with an image-dependent offset (so "which image it is" is real
variance), the clean image's reward shared by every k, and a level-dependent term whose
box-smoothed expectation is known in closed form (so the exact gradient in the magnitudes
of the smoothed objective is known too).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Tuple

import torch
from torch import Tensor

from ..search.distributions import PolicySample
from ..search.policy_params import PolicyParameters

__all__ = ['table_reward', 'exact_expected_reward', 'exact_gradient', 'ImageRewardToy']


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


@dataclass
class ImageRewardToy:
    """``r(x, k, b, l) = table[x, k, b1, b2] + sum_j b_j amp[x, k, j] sin(freq l_j + phase[k, j])``.

    Images x are drawn uniformly from the X rows. ``table[x, k, 0, 0]`` is the same for
    every k (the clean image). The objective of the candidate estimator,
    ``J_delta = mean_x E_k E_b E_u r(x, k, b, m_k + u)`` with ``u ~ U[-delta, delta]^2``, is
    exact here because ``E_u sin(w (m + u) + c) = sin(w m + c) sin(w delta) / (w delta)``
    (levels are taken as given: keep ``m +- delta`` inside [0, 1] where the clamp is flat).

    Attributes:
        table: [X, N, 2, 2] rewards at the level-free part.
        amp: [X, N, 2] amplitude of each op's level term (0: the level does not matter).
        phase: [N, 2] phase of each op's level term.
        freq: angular frequency of the level term.
    """
    table: Tensor
    amp: Tensor
    phase: Tensor
    freq: float = 6.0

    @classmethod
    def random(cls, num_images: int, num_sub_policies: int, offset_scale: float,
               generator: torch.Generator, effect_scale: float = 1.0,
               interaction_scale: float = 0.3, level_scale: float = 0.5,
               freq: float = 6.0) -> 'ImageRewardToy':
        """Offsets ~ offset_scale * N(0, 1) per image, effects of (k, b) shared by all
        images (``effect_scale``) plus a per-image part (``interaction_scale``)."""
        x, n, g = int(num_images), int(num_sub_policies), generator
        offset = offset_scale * torch.randn(x, 1, 1, 1, generator=g)
        effect = effect_scale * torch.randn(1, n, 2, 2, generator=g)
        inter = interaction_scale * torch.randn(x, n, 2, 2, generator=g)
        table = offset + effect + inter
        table = table - table[:, :, :1, :1] + table[:, :1, :1, :1]   # one clean reward per x
        amp = level_scale * (1.0 + 0.5 * torch.randn(x, n, 2, generator=g))
        phase = 2 * math.pi * torch.rand(n, 2, generator=g)
        return cls(table=table, amp=amp, phase=phase, freq=float(freq))

    @property
    def num_images(self) -> int:
        return int(self.table.shape[0])

    def draw_images(self, num: int, generator: torch.Generator) -> Tensor:
        """[num] image indices, uniform over the X images."""
        return torch.randint(self.num_images, (int(num),), generator=generator)

    def rewards(self, images: Tensor, k: Tensor, b: Tensor, levels: Tensor) -> Tensor:
        """[S, K] rewards of candidates (k [S, K], b [S, K, 2], levels [S, K, 2]) of the
        images [S]."""
        x = images[:, None].expand_as(k)
        bl = b.long()
        base = self.table[x, k, bl[..., 0], bl[..., 1]]
        level = self.amp[x, k] * torch.sin(self.freq * levels + self.phase[k])
        return base + (b * level).sum(-1)

    def expected_reward(self, params: PolicyParameters, delta: float = 0.0,
                        eps: float = 1e-6) -> Tensor:
        """``J_delta``, differentiable in alpha, probs and magnitudes."""
        theta = params.selection_probs()
        p = params.clamped_probs(eps)
        m = params.clamped_magnitudes()
        wd = self.freq * float(delta)
        smooth = math.sin(wd) / wd if wd > 0 else 1.0
        level = (self.amp.to(m.dtype) * smooth
                 * torch.sin(self.freq * m + self.phase.to(m.dtype))).mean(0)   # [N, 2]
        table = self.table.to(theta.dtype).mean(0)                              # [N, 2, 2]
        total = theta.new_zeros(())
        for b1, b2 in itertools.product((0, 1), repeat=2):
            pb = (p[:, 0] if b1 else 1 - p[:, 0]) * (p[:, 1] if b2 else 1 - p[:, 1])
            r = table[:, b1, b2] + b1 * level[:, 0] + b2 * level[:, 1]
            total = total + (theta * pb * r).sum()
        return total

    def exact_gradient(self, params: PolicyParameters, delta: float = 0.0,
                       eps: float = 1e-6) -> Tuple[Tensor, Tensor, Tensor]:
        """Exact (d/dalpha, d/dprobs, d/dmagnitudes) of ``J_delta`` by autograd."""
        grads = torch.autograd.grad(self.expected_reward(params, delta, eps),
                                    [params.alpha, params.probs, params.magnitudes])
        return tuple(g.detach() for g in grads)
