"""What a search chooses among: a family's ops and their two-op sub-policies.

A :class:`SearchSpace` names its ops (indices into its own op list), which of them take a
random sign per image, and the policy-file family (``meta.op_family``) its exported
policies belong to. Its sub-policies are every unordered pair of distinct ops, the lower
index first, in lexicographic order: for the 15 DADA ops the paper's 105
(``sub_policies.SUB_POLICY_OP_INDICES``). The learner, the per-op sharing, the candidates'
sign handling, the export and the history read the space instead of the DADA tables, so
the one search core serves any op family an applier exists for.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Dict, Tuple

import torch

from ..ops.detection_ops import DADA_FAMILY, DETECTION_FAMILY, DETECTION_OPS
from ..ops.table import OP_NAMES, OPS
from .sub_policies import OPS_PER_SUB_POLICY

__all__ = ['SearchSpace', 'DADA_SEARCH_SPACE', 'ZOPH_DETECTION_SEARCH_SPACE', 'SEARCH_SPACES',
           'get_search_space']


@dataclass(frozen=True)
class SearchSpace:
    """The ops of a search and its sub-policies (every pair of distinct ops).

    Attributes:
        name: the space's name (``SEARCH_SPACES``).
        family: the ``meta.op_family`` of the policies it exports.
        op_names: its ops, in index order.
        signed: per op, whether its level takes a random sign per image.
    """
    name: str
    family: str
    op_names: Tuple[str, ...]
    signed: Tuple[bool, ...]
    pairs: Tuple[Tuple[int, int], ...] = field(init=False)
    op_index: Dict[str, int] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.signed) != len(self.op_names) or len(set(self.op_names)) != len(
                self.op_names):
            raise ValueError(f'search space {self.name!r}: op_names must be distinct and '
                             'signed must give one flag per op')
        object.__setattr__(self, 'pairs', tuple(
            combinations(range(len(self.op_names)), OPS_PER_SUB_POLICY)))
        object.__setattr__(self, 'op_index',
                           {name: i for i, name in enumerate(self.op_names)})

    @property
    def num_ops(self) -> int:
        return len(self.op_names)

    @property
    def num_sub_policies(self) -> int:
        return len(self.pairs)

    @property
    def sub_policies(self) -> Tuple[Tuple[str, str], ...]:
        """The sub-policies as op-name pairs, in index order."""
        return tuple((self.op_names[a], self.op_names[b]) for a, b in self.pairs)

    def signed_ops(self, device=None) -> torch.Tensor:
        """[num_ops] bool: the ops whose level takes a random sign."""
        return torch.tensor(self.signed, dtype=torch.bool, device=device)

    def index_of(self, name: str, field_name: str = 'op') -> int:
        """The index of op ``name``; an unknown name lists the space's ops."""
        try:
            return self.op_index[name]
        except (KeyError, TypeError):
            raise KeyError(f'{field_name}: {name!r} is not an op of the {self.name!r} '
                           f'search space; its ops are: {", ".join(self.op_names)}') from None


#: the 15 DADA ops and the paper's 105 sub-policies
DADA_SEARCH_SPACE = SearchSpace(name='dada', family=DADA_FAMILY, op_names=OP_NAMES,
                                signed=tuple(op.random_sign for op in OPS))
#: the 25 ops of Zoph et al.'s detection family (whole-image colour and geometric ops,
#: Cutout, BBox_Cutout and the box-only ops) and their 300 pairs; a detector's search only
ZOPH_DETECTION_SEARCH_SPACE = SearchSpace(
    name=DETECTION_FAMILY, family=DETECTION_FAMILY,
    op_names=tuple(op.name for op in DETECTION_OPS),
    signed=tuple(op.random_sign for op in DETECTION_OPS))
SEARCH_SPACES: Dict[str, SearchSpace] = {
    space.name: space for space in (DADA_SEARCH_SPACE, ZOPH_DETECTION_SEARCH_SPACE)}


def get_search_space(name: str) -> SearchSpace:
    """The search space called ``name``; an unknown name lists the valid ones."""
    try:
        return SEARCH_SPACES[name]
    except (KeyError, TypeError):
        raise ValueError(f'search_space must be one of {list(SEARCH_SPACES)}, got '
                         f'{name!r}') from None
