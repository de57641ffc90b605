"""The search's record of the policy at the end of every search epoch.

``SearchHistory`` keeps one entry per epoch (selection probabilities softmax(alpha) of all
105 sub-policies, their apply probabilities and levels, clamped to [0, 1]) and writes them
to ``dada_search_history.json`` for the plots of ``dada_mm.visualization``
(``tools/plot_search.py``)::

    {"sub_policies": [["ShearX", "ShearY"], ...],
     "epochs": [{"epoch": 1, "iteration": 390, "selection_probs": [...],
                 "probs": [[p1, p2], ...], "magnitudes": [[m1, m2], ...]}, ...]}

The file is written atomically (``dada_mm.utils.files``). The entries are part of the
hook's checkpoint state (``checkpoint['dada_search']['history']``, the list as is).
"""
from __future__ import annotations

import math
import os
from typing import Any, Dict, List, Union

from ..search_space import DADA_SEARCH_SPACE, SearchSpace
from ..utils.files import write_json_atomic
from .policy_params import PolicyParameters

__all__ = ['SearchHistory', 'epoch_summary', 'policy_movement']


class SearchHistory:
    """Per-epoch snapshots of the policy parameters (``entries``: a list of dicts) over the
    sub-policies of ``space`` (DADA's 105 by default)."""

    def __init__(self, space: SearchSpace = DADA_SEARCH_SPACE) -> None:
        self.space = space
        self.entries: List[Dict[str, Any]] = []

    def record(self, epoch: int, iteration: int, policy: PolicyParameters) -> None:
        """Add the snapshot of ``policy`` after ``epoch`` (1-based) at ``iteration``."""
        self.entries.append(dict(
            epoch=int(epoch), iteration=int(iteration),
            selection_probs=policy.selection_probs().detach().cpu().tolist(),
            probs=policy.probs.detach().clamp(0, 1).cpu().tolist(),
            magnitudes=policy.magnitudes.detach().clamp(0, 1).cpu().tolist()))

    def write(self, path: Union[str, os.PathLike]) -> None:
        write_json_atomic(path, dict(sub_policies=[list(p) for p in self.space.sub_policies],
                                     epochs=self.entries))

    def state_dict(self) -> List[Dict[str, Any]]:
        return self.entries

    def load_state_dict(self, entries: List[Dict[str, Any]]) -> None:
        self.entries = list(entries)


def epoch_summary(policy: PolicyParameters, epoch: int, count: int,
                  space: SearchSpace = DADA_SEARCH_SPACE) -> str:
    """The log message at the end of a search epoch: the selection entropy, then one line
    per top-``count`` sub-policy by alpha, every number named::

        DADASearchHook: end of search epoch 3: selection entropy 4.6489 (uniform: 4.6540);
        top 2 of 105 sub-policies by selection weight w = softmax(alpha) (uniform w =
        0.0095), each op with its apply probability p and magnitude m (both in [0, 1]):
          #1 w=0.0132 ShearX(p=0.55, m=0.61) + Invert(p=0.47, m=0.50)
          #2 w=0.0120 ...
    """
    selection = policy.selection_probs().detach().cpu()
    n = len(selection)
    header = (f'DADASearchHook: end of search epoch {epoch}: selection entropy '
              f'{float(policy.entropy().detach()):.4f} (uniform: {math.log(n):.4f}); '
              f'top {min(count, n)} of {n} sub-policies by selection weight w = '
              f'softmax(alpha) (uniform w = {1.0 / n:.4f}), each op with its apply '
              'probability p and magnitude m (both in [0, 1]):')
    lines = []
    for rank, (index, probs, levels) in enumerate(policy.top_k(count)):
        first, second = space.sub_policies[index]
        lines.append(f'  #{rank + 1} w={float(selection[index]):.4f} '
                     f'{first}(p={probs[0]:.2f}, m={levels[0]:.2f}) + '
                     f'{second}(p={probs[1]:.2f}, m={levels[1]:.2f})')
    return header + '\n' + '\n'.join(lines)


def policy_movement(entry: Dict[str, Any], start: Dict[str, Any]) -> Dict[str, float]:
    """How far a recorded policy (a history entry) is from where the search started
    (``start``: the same keys, e.g. the hook's initial values): the selection entropy
    against the uniform one, the most and least selected sub-policy against uniform, the
    total-variation distance of the selection from uniform (0: uniform; 1: all mass on
    sub-policies of weight 0 before), and the mean absolute change of p and m."""
    sel = [float(w) for w in entry['selection_probs']]
    n = len(sel)
    entropy = -sum(w * math.log(w) for w in sel if w > 0)
    start_sel = [float(w) for w in start['selection_probs']]

    def mean_change(key):
        now = [v for pair in entry[key] for v in pair]
        before = [v for pair in start[key] for v in pair]
        return sum(abs(a - b) for a, b in zip(now, before)) / len(now)

    return dict(entropy=entropy, uniform_entropy=math.log(n),
                max_selection_vs_uniform=max(sel) * n, min_selection_vs_uniform=min(sel) * n,
                selection_tv_from_start=0.5 * sum(abs(a - b) for a, b in zip(sel, start_sel)),
                mean_abs_prob_change=mean_change('probs'),
                mean_abs_magnitude_change=mean_change('magnitudes'))
