"""The search's record of the policy at the end of every search epoch.

``SearchHistory`` keeps one entry per epoch (selection probabilities softmax(alpha) of all
105 sub-policies, their apply probabilities and levels, clamped to [0, 1]) and writes them
to ``dada_search_history.json`` for the plots of ``dada_mm.visualization``::

    {"sub_policies": [["ShearX", "ShearY"], ...],
     "epochs": [{"epoch": 1, "iteration": 390, "selection_probs": [...],
                 "probs": [[p1, p2], ...], "magnitudes": [[m1, m2], ...]}, ...]}

The file is written atomically (``dada_mm.utils.files``). The entries are part of the
hook's checkpoint state (``checkpoint['dada_search']['history']``, the list as is).
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Union

from ..search_space import SUB_POLICIES
from ..utils.files import write_json_atomic
from .policy_params import PolicyParameters

__all__ = ['SearchHistory', 'epoch_summary']


class SearchHistory:
    """Per-epoch snapshots of the policy parameters (``entries``: a list of dicts)."""

    def __init__(self) -> None:
        self.entries: List[Dict[str, Any]] = []

    def record(self, epoch: int, iteration: int, policy: PolicyParameters) -> None:
        """Add the snapshot of ``policy`` after ``epoch`` (1-based) at ``iteration``."""
        self.entries.append(dict(
            epoch=int(epoch), iteration=int(iteration),
            selection_probs=policy.selection_probs().detach().cpu().tolist(),
            probs=policy.probs.detach().clamp(0, 1).cpu().tolist(),
            magnitudes=policy.magnitudes.detach().clamp(0, 1).cpu().tolist()))

    def write(self, path: Union[str, os.PathLike]) -> None:
        write_json_atomic(path, dict(sub_policies=[list(p) for p in SUB_POLICIES],
                                     epochs=self.entries))

    def state_dict(self) -> List[Dict[str, Any]]:
        return self.entries

    def load_state_dict(self, entries: List[Dict[str, Any]]) -> None:
        self.entries = list(entries)


def epoch_summary(policy: PolicyParameters, epoch: int, count: int) -> str:
    """The log message at the end of a search epoch: the selection entropy and one line
    per top-``count`` sub-policy by alpha (rank, selection probability, and each op with
    its apply probability and level)."""
    header = (f'DADASearchHook: epoch {epoch} entropy '
              f'{float(policy.entropy().detach()):.4f}, top sub-policies:')
    lines = []
    selection = policy.selection_probs().detach().cpu()
    for rank, (index, probs, levels) in enumerate(policy.top_k(count)):
        first, second = SUB_POLICIES[index]
        lines.append(f'  #{rank} [{float(selection[index]):.4f}] '
                     f'{first}(p={probs[0]:.2f}, m={levels[0]:.2f}) + '
                     f'{second}(p={probs[1]:.2f}, m={levels[1]:.2f})')
    return header + '\n' + '\n'.join(lines)
