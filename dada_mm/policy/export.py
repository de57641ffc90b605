"""From learned parameters to a policy, and drawing from a fixed (frozen) policy.

``export_top_k`` turns the search's parameters into policy-file entries: the k
sub-policies with the largest selection logit alpha, each op with its apply probability
and level clamped to [0, 1] (``PolicyParameters.top_k``). The search hook writes them to
its policy file and freezes them when the search ends; ``tools/export_backbone.py``
exports the same entries from a checkpoint. ``export_meta`` is the search's ``meta``
of the policy file.

``FrozenPolicySampler`` draws, per image, a uniformly chosen sub-policy of such a policy
and its ops' on/off, on the training device: what the hook augments with once the search
has ended (the batched counterpart of ``DADAAugment``'s per-image draw).
"""
from __future__ import annotations

import datetime
from typing import Any, Dict, List, Sequence, Tuple

import torch

from ..search_space import DADA_FAMILY, DADA_SEARCH_SPACE, SearchSpace

__all__ = ['export_top_k', 'export_meta', 'FrozenPolicySampler']

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


class FrozenPolicySampler:
    """Per-image draws from a fixed policy of two-op sub-policies (op names of ``space``).

    Args:
        sub_policies: policy-file entries (e.g. from :func:`export_top_k`).
        device: where the draws are made (the generator's device).
        space: the search space whose op indices the draws give (DADA's by default).
    """

    def __init__(self, sub_policies: Sequence[Sequence[Dict[str, Any]]],
                 device: torch.device, space: SearchSpace = DADA_SEARCH_SPACE) -> None:
        self.op_indices = torch.tensor([[space.index_of(o['op'], 'frozen policy op')
                                         for o in sub] for sub in sub_policies],
                                       dtype=torch.long, device=device)
        self.probs = torch.tensor([[o['prob'] for o in sub] for sub in sub_policies],
                                  device=device)
        self.levels = torch.tensor([[o['magnitude'] for o in sub] for sub in sub_policies],
                                   device=device)

    def draw(self, batch: int, generator: torch.Generator
             ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(op_indices [B, 2], apply [B, 2] in {0, 1}, levels [B, 2])``: a uniformly
        chosen sub-policy per image, each op on with its probability."""
        device = self.op_indices.device
        index = torch.randint(self.op_indices.shape[0], (batch,), generator=generator,
                              device=device)
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
