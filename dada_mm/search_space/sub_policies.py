"""The 105 two-op sub-policies of DADA, in the paper's order.

All unordered pairs of distinct ops, stored with the lower op index first, enumerated in
lexicographic order: (ShearX, ShearY), (ShearX, TranslateX), ..., (Sharpness, Cutout).
The order is fixed (the official ``train_search_paper.py`` shuffled it before seeding,
which made searches irreproducible; we never do).
"""
from __future__ import annotations

from itertools import combinations
from typing import Dict, Tuple

from ..ops.table import OP_NAMES, OPS

__all__ = ['OPS_PER_SUB_POLICY', 'SUB_POLICIES', 'NUM_SUB_POLICIES',
           'SUB_POLICY_INDEX', 'SUB_POLICY_OP_INDICES']

OPS_PER_SUB_POLICY = 2

#: op-index pairs, shape (105, 2)
SUB_POLICY_OP_INDICES: Tuple[Tuple[int, int], ...] = tuple(
    combinations(range(len(OPS)), OPS_PER_SUB_POLICY))
#: op-name pairs in the same order
SUB_POLICIES: Tuple[Tuple[str, str], ...] = tuple(
    (OP_NAMES[a], OP_NAMES[b]) for a, b in SUB_POLICY_OP_INDICES)
NUM_SUB_POLICIES = len(SUB_POLICIES)
SUB_POLICY_INDEX: Dict[Tuple[str, str], int] = {
    pair: i for i, pair in enumerate(SUB_POLICIES)}
