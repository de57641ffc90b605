"""Agreement between ranks: the few collectives the search needs (no-ops on one rank).

Every rank must take the same branch around a collective, or the ranks that skip it leave
the others waiting forever; these helpers turn a per-rank value or condition into one
that all ranks share.
"""
from __future__ import annotations

import torch
from mmengine.dist import all_reduce, get_dist_info

__all__ = ['rank_mean', 'all_ranks']


def rank_mean(value: float, device: torch.device) -> float:
    """``value`` averaged over the ranks (one all-reduce when distributed)."""
    if get_dist_info()[1] == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    all_reduce(t, op='mean')
    return float(t)


def all_ranks(ok: bool, device: torch.device) -> bool:
    """True when ``ok`` holds on every rank (one all-reduce when distributed)."""
    return rank_mean(0.0 if ok else 1.0, device) == 0.0
