"""RELAX control variate c_phi, as in the paper's code: a small MLP over the relaxed policy
sample.

It sees no image or network feature, only the relaxed draw: for each sub-policy j the triple
``[sigmoid(z_j1/tau), sigmoid(z_j2/tau), softmax(z_cat/tau)_j]`` (3N = 315 values for N = 105),
mapped to [-1, 1]. Because it is a smooth function of the reparameterised relaxation, its
pathwise gradient ``grad c(z) - grad c(z_tilde)`` exactly compensates the ``c(z_tilde)`` it
subtracts from the reward, so it can only change the variance, never the mean.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..search_space import NUM_SUB_POLICIES, OPS_PER_SUB_POLICY

__all__ = ['RelaxControlVariate']


class RelaxControlVariate(nn.Module):
    """``Linear(3N, hidden) -> tanh -> Linear(hidden, 1)``: one scalar per sample.

    Args:
        num_sub_policies: N; the input size is ``N * (2 + 1)``.
        hidden: hidden width (100 in the paper's code).
        zero_init: start the output layer at zero, so that c = 0 until the variance
            objective has learnt something (default). With PyTorch's default init c
            starts at about +-0.3 whatever the reward's scale: beside rewards of about
            0.05 that is noise added to every score term (the paper's code, and the
            fault measured in issue 12). ``False`` keeps the default init.
    """

    def __init__(self, num_sub_policies: int = NUM_SUB_POLICIES, hidden: int = 100,
                 zero_init: bool = True) -> None:
        super().__init__()
        self.num_sub_policies = int(num_sub_policies)
        self.in_features = self.num_sub_policies * (OPS_PER_SUB_POLICY + 1)
        self.net = nn.Sequential(nn.Linear(self.in_features, int(hidden)), nn.Tanh(),
                                 nn.Linear(int(hidden), 1))
        if zero_init:
            nn.init.zeros_(self.net[-1].weight)
            nn.init.zeros_(self.net[-1].bias)

    @staticmethod
    def features(z_cat: Tensor, z_bern: Tensor, tau: float) -> Tensor:
        """[B, N] and [B, N, 2] logits -> [B, 3N] input in [-1, 1] (per sub-policy triples)."""
        cat = torch.softmax(z_cat / tau, dim=-1)
        bern = torch.sigmoid(z_bern / tau)
        x = torch.cat([bern, cat.unsqueeze(-1)], dim=-1).flatten(1)
        return 2.0 * x - 1.0

    def forward(self, z_cat: Tensor, z_bern: Tensor, tau: float) -> Tensor:
        """c_phi of each relaxed draw, shape [B]."""
        return self.net(self.features(z_cat, z_bern, tau)).squeeze(-1)
