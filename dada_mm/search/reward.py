"""From per-image hyper-gradients to the reward the estimator sees: credit and scale.

Credit (``credit``). The reward of the search is ``r = -xi * mean_i h_i`` with h_i the
finite-difference hyper-gradient of image i. With train-mode BatchNorm every h_i depends
on *all* images' draws (they share the batch statistics), so pairing h_i with image i's
own score alone (``'image'``) misses the cross terms: each is O(1/B) but there are B - 1 of
them, and the bias does not shrink with the batch (exact enumeration in
tests/test_credit_bn.py). ``'batch'`` pairs the batch reward with the joint score
``sum_j grad log P_j``: exactly unbiased whatever the network, for more variance (on the
toy of tests/test_credit_bn.py, B = 3: 3x the standard error of ``'image'``; on the planted
Invert search of benchmarks/bench_policy.py the Invert sub-policies end 7.1 / 3.0x as
likely as the rest after 20 epochs, against 17.1 / 6.9x with ``'image'``; docs/benchmarks.md).
Without BatchNorm (or any other cross-image coupling) both are unbiased and ``'image'`` is
the cheaper in variance.

Scale (``RewardScaler``). The raw reward is about ``1e-3 * h``: policy Adam is
scale-invariant, but a control variate with outputs of O(0.1) is not, and Adam's epsilon
is not either at rewards of 1e-7. Dividing by a running RMS of past rewards puts the
estimator on a fixed scale; the RMS is taken from *earlier* steps (the first step uses
its own), so the scale never depends on the current draws. Distributed, the mean square
is averaged over the ranks first, so every rank keeps the same scale (and a resumed run,
which restores rank 0's state on every rank, continues exactly).
"""
from __future__ import annotations

from typing import Dict, Optional

from torch import Tensor

__all__ = ['CREDITS', 'assign_credit', 'RewardScaler']

CREDITS = ('image', 'batch')


def assign_credit(reward: Tensor, credit: str) -> Tensor:
    """Per-image rewards f_i such that ``mean_i f_i grad log P_i`` is the estimate.

    ``'image'``: f_i = r_i. ``'batch'``: f_i = B * mean(r) for every i, so that
    ``mean_i f_i grad log P_i = mean(r) * sum_i grad log P_i`` (the joint score).
    """
    if credit not in CREDITS:
        raise ValueError(f'credit must be one of {list(CREDITS)}, got {credit!r}')
    if credit == 'image':
        return reward
    return (reward.mean() * reward.numel()).expand_as(reward).clone()


class RewardScaler:
    """Divide rewards by a running root-mean-square of earlier rewards.

    Args:
        momentum: weight of the past in the running mean square (0.9: about the last ten
            updates).
        eps: floor of the RMS (an all-zero reward stays zero).
    """

    def __init__(self, momentum: float = 0.9, eps: float = 1e-20) -> None:
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f'reward scaler momentum must be in [0, 1), got {momentum}')
        self.momentum = float(momentum)
        self.eps = float(eps)
        self.running: Optional[float] = None  #: running mean square

    @staticmethod
    def mean_square(reward: Tensor) -> float:
        """Mean square of this step's rewards (to be averaged over ranks by the caller,
        so that every rank keeps the same running RMS)."""
        return float(reward.detach().double().pow(2).mean())

    def scale(self, mean_square: float) -> float:
        """The factor for this step's rewards: from earlier steps; the first step, with
        no history, uses its own ``mean_square``."""
        ms = mean_square if self.running is None else self.running
        return 1.0 / max(ms, self.eps) ** 0.5

    def update(self, mean_square: float) -> None:
        """Record this step's mean square (after :meth:`scale`, on finite steps only)."""
        if self.running is None:
            self.running = float(mean_square)
        else:
            self.running = (self.momentum * self.running
                            + (1 - self.momentum) * float(mean_square))

    def state_dict(self) -> Dict[str, Optional[float]]:
        return dict(mean_square=self.running)

    def load_state_dict(self, state: Dict[str, Optional[float]]) -> None:
        self.running = state.get('mean_square')
