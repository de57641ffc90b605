"""The learnable augmentation policy: selection logits, apply probabilities, magnitudes.

Parameterisation follows the paper's code: ``alpha`` are raw logits (selection
probabilities are ``softmax(alpha)``), ``probs`` are *raw* probabilities (not passed through
a sigmoid; clamped when sampling and at export) and ``magnitudes`` are raw levels clamped to
[0, 1] wherever they are used. Keeping the official parameterisation keeps Adam's
dynamics and the exported numbers comparable with the published policies.
"""
from __future__ import annotations

from typing import List, Tuple, Union

import torch
from torch import nn

from ..search_space import NUM_SUB_POLICIES, OPS_PER_SUB_POLICY

__all__ = ['PolicyParameters', 'straight_through_clamp']

TopKEntry = Tuple[int, Tuple[float, ...], Tuple[float, ...]]


def straight_through_clamp(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """``x.clamp(low, high)`` in value, the identity in gradient.

    A plain clamp has zero gradient at and beyond its bounds, so a p or m that the
    projection put on 0 or 1 would never see that its gradient points back inward and
    would stay frozen there (the official code's failure). Used wherever p and m enter
    a sampled draw, a log-probability or an op.
    """
    return x.detach().clamp(low, high) + (x - x.detach())


class PolicyParameters(nn.Module):
    """Holds ``alpha`` [N], ``probs`` [N, 2] and ``magnitudes`` [N, 2] as ``nn.Parameter``.

    Args:
        num_sub_policies: N, 105 for the real search space; smaller for toy problems.
        alpha_init: initial selection logit (uniform, 1e-3 as in the official code).
        prob_init: initial apply probability of every op.
        magnitude_init: initial level of every op (0.5 = identity for most ops), or an
            [N, 2] tensor of initial levels, one per slot.
    """

    def __init__(self, num_sub_policies: int = NUM_SUB_POLICIES, alpha_init: float = 1e-3,
                 prob_init: float = 0.5,
                 magnitude_init: Union[float, torch.Tensor] = 0.5) -> None:
        super().__init__()
        n, k = int(num_sub_policies), OPS_PER_SUB_POLICY
        self.num_sub_policies = n
        self.alpha = nn.Parameter(torch.full((n,), float(alpha_init)))
        self.probs = nn.Parameter(torch.full((n, k), float(prob_init)))
        if isinstance(magnitude_init, torch.Tensor):
            if tuple(magnitude_init.shape) != (n, k):
                raise ValueError(f'magnitude_init as a tensor must have shape {(n, k)}, '
                                 f'got {tuple(magnitude_init.shape)}')
            magnitudes = magnitude_init.detach().to(torch.get_default_dtype()).clone()
        else:
            magnitudes = torch.full((n, k), float(magnitude_init))
        self.magnitudes = nn.Parameter(magnitudes)

    def clamped_probs(self, eps: float = 1e-6) -> torch.Tensor:
        """Apply probabilities clamped to [eps, 1-eps] (finite logits/log-probs when
        sampling); the gradient passes the clamp (:func:`straight_through_clamp`)."""
        return straight_through_clamp(self.probs, eps, 1.0 - eps)

    def clamped_magnitudes(self) -> torch.Tensor:
        """Levels clamped to [0, 1], the range every op's level mapping expects; the
        gradient passes the clamp (:func:`straight_through_clamp`)."""
        return straight_through_clamp(self.magnitudes, 0.0, 1.0)

    def selection_probs(self) -> torch.Tensor:
        """softmax(alpha): probability of drawing each sub-policy."""
        return torch.softmax(self.alpha, dim=-1)

    def entropy(self) -> torch.Tensor:
        """Entropy (nats) of the sub-policy selection distribution; a collapse monitor."""
        logp = torch.log_softmax(self.alpha, dim=-1)
        return -(logp.exp() * logp).sum()

    @torch.no_grad()
    def top_k(self, k: int) -> List[TopKEntry]:
        """The k sub-policies with the largest alpha, as the paper exports its policy.

        Returns a list of ``(sub_policy_index, probs_row, magnitudes_row)`` with both rows as
        tuples of floats clamped to [0, 1], sorted by alpha descending; ties are broken by
        the lower index so that export is deterministic.
        """
        alpha = self.alpha.detach().cpu().tolist()
        order = sorted(range(len(alpha)), key=lambda i: (-alpha[i], i))[:max(int(k), 0)]
        probs = self.probs.detach().clamp(0.0, 1.0).cpu()
        mags = self.magnitudes.detach().clamp(0.0, 1.0).cpu()
        return [(i, tuple(float(x) for x in probs[i]), tuple(float(x) for x in mags[i]))
                for i in order]

    def extra_repr(self) -> str:
        return f'num_sub_policies={self.num_sub_policies}'
