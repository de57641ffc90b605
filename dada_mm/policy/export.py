"""From learned parameters to a policy, and drawing from a fixed (frozen) policy.

``export_top_k`` turns the search's parameters into policy-file entries: the k
sub-policies with the largest selection logit alpha, each op with its apply probability
and level clamped to [0, 1] (``PolicyParameters.top_k``). The search hook writes them to
its policy file and freezes them when the search ends; ``tools/export_backbone.py``
exports the same entries from a checkpoint. ``export_weights`` are their selection
weights, softmax(alpha) renormalised over the k, for a policy that is drawn as the search
learnt to draw it rather than with equal chances (the hook's ``export_weighting``).
``export_meta`` is the search's ``meta`` of the policy file.

``FrozenPolicySampler`` draws, per image, a sub-policy of such a policy (uniformly, or by
its weights) and its ops' on/off, on the training device: what the hook augments with once
the search has ended (the batched counterpart of ``DADAAugment``'s per-image draw).
"""
from __future__ import annotations

import datetime
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from ..search_space import DADA_FAMILY, DADA_SEARCH_SPACE, SearchSpace

__all__ = ['export_top_k', 'export_weights', 'export_meta', 'FrozenPolicySampler',
           'EXPORT_WEIGHTINGS']

#: how the exported sub-policies are drawn: 'uniform' (with equal chance, the paper's) or
#: 'selection' (by their selection weights, :func:`export_weights`)
EXPORT_WEIGHTINGS = ('uniform', 'selection')

SubPolicies = List[List[Dict[str, Any]]]


def export_top_k(policy_params, k: int, space: SearchSpace = DADA_SEARCH_SPACE
                 ) -> SubPolicies:
    """The top-``k`` sub-policies of ``policy_params`` (a ``PolicyParameters`` over the
    sub-policies of ``space``, DADA's 105 by default) by alpha, as policy-file entries
    ``[{'op', 'prob', 'magnitude'}, ...]``."""
    if policy_params.num_sub_policies != space.num_sub_policies:
        raise ValueError(f'the policy has {policy_params.num_sub_policies} sub-policies, '
                         f'the {space.name!r} search space {space.num_sub_policies}')
    names = space.sub_policies
    return [[dict(op=name, prob=prob, magnitude=level)
             for name, prob, level in zip(names[index], probs, levels)]
            for index, probs, levels in policy_params.top_k(k)]


def export_weights(policy_params, k: int) -> List[float]:
    """The selection weights softmax(alpha) of the top-``k`` sub-policies, in
    :func:`export_top_k`'s order, renormalised to sum to 1: drawing the exported policy by
    them draws each of the k as the search's own distribution does, given that one of the
    k is drawn."""
    top = [index for index, _, _ in policy_params.top_k(k)]
    sel = torch.softmax(policy_params.alpha.detach().double().cpu(), dim=0)[top]
    return [float(x) for x in sel / sel.sum()]


class FrozenPolicySampler:
    """Per-image draws from a fixed policy of two-op sub-policies (op names of ``space``).

    Args:
        sub_policies: policy-file entries (e.g. from :func:`export_top_k`).
        device: where the draws are made (the generator's device).
        space: the search space whose op indices the draws give (DADA's by default).
        weights: each sub-policy's chance of being drawn, up to a common factor (e.g.
            :func:`export_weights`); None: equal chances.
    """

    def __init__(self, sub_policies: Sequence[Sequence[Dict[str, Any]]],
                 device: torch.device, space: SearchSpace = DADA_SEARCH_SPACE,
                 weights: Optional[Sequence[float]] = None) -> None:
        self.op_indices = torch.tensor([[space.index_of(o['op'], 'frozen policy op')
                                         for o in sub] for sub in sub_policies],
                                       dtype=torch.long, device=device)
        self.probs = torch.tensor([[o['prob'] for o in sub] for sub in sub_policies],
                                  device=device)
        self.levels = torch.tensor([[o['magnitude'] for o in sub] for sub in sub_policies],
                                   device=device)
        self.weights = None
        if weights is not None:
            from .policy_file import validate_weights
            w = torch.tensor(validate_weights(weights, len(sub_policies), 'frozen policy'),
                             dtype=torch.float64, device=device)
            self.weights = w / w.sum()

    def draw(self, batch: int, generator: torch.Generator
             ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(op_indices [B, 2], apply [B, 2] in {0, 1}, levels [B, 2])``: a sub-policy
        per image (uniformly, or by the weights), each op on with its probability."""
        device = self.op_indices.device
        if self.weights is None:
            index = torch.randint(self.op_indices.shape[0], (batch,), generator=generator,
                                  device=device)
        else:
            index = torch.multinomial(self.weights, batch, replacement=True,
                                      generator=generator)
        u = torch.rand(batch, 2, generator=generator, device=device)
        apply = (u < self.probs[index]).float()
        return self.op_indices[index], apply, self.levels[index]


def export_meta(policy_params, k: int, search: Dict[str, Any], epochs_done: int,
                iteration: int, frozen: bool, space: SearchSpace = DADA_SEARCH_SPACE
                ) -> Dict[str, Any]:
    """The ``meta`` of a policy file exported by the search: where and when it stands
    (``search``: its settings and counters), softmax(alpha) of the top-``k`` and, for a
    space of another family than DADA's, its ``op_family`` (absent means DADA's)."""
    top = [index for index, _, _ in policy_params.top_k(k)]
    family = {} if space.family == DADA_FAMILY else dict(op_family=space.family)
    return dict(source='dada_mm DADASearchHook', **family,
                date=datetime.datetime.now().isoformat(timespec='seconds'),
                epochs_done=int(epochs_done), iteration=int(iteration), frozen=frozen,
                ranked_by='alpha', search=search,
                selection_probs=[float(x) for x in
                                 policy_params.selection_probs().detach().cpu()[top]])
