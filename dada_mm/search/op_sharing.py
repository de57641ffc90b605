"""Share statistical strength between the sub-policies that hold the same op.

The paper's parameterisation gives each of the 105 sub-policies its own alpha, p and m,
so each learns only from the ~1/105 of the images that draw it (about 0.3 images of a
batch of 32). ``OpSharing`` adds per-op parameters on top of it,

    alpha_k = a_k + beta[op_k1] + beta[op_k2],   p_kj = q_kj + gamma[op_kj],
    m_kj = n_kj + mu[op_kj],

so that every draw of an op informs the 14 sub-policies that contain it. The
sub-policies' own parameters stay as they are (``PolicyParameters`` keeps holding the
effective alpha, p and m that sampling, the ops and export read); this module owns beta,
gamma and mu and their optimiser, and after each policy step adds their change to the
effective values. By the chain rule their gradients are sums of the effective
parameters' gradients over the slots that hold the op. It is an option beside the
paper's parameterisation (``DADASearchHook(learner=dict(share_ops=True))``), not a change
of it.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
from mmengine.registry import OPTIMIZERS
from torch import nn

from ..search_space import DADA_SEARCH_SPACE

__all__ = ['OpSharing']


class OpSharing(nn.Module):
    """Per-op offsets of alpha, p and m, trained by their own optimiser.

    Args:
        optimizer: optimizer config (without ``params``) for beta, gamma and mu.
        op_table: [N, 2] op index of every slot (default: the 105 DADA sub-policies).
        num_ops: how many ops the indices of ``op_table`` run over (default: DADA's 15).
    """

    def __init__(self, optimizer: Dict, op_table=None, num_ops: Optional[int] = None
                 ) -> None:
        super().__init__()
        table = torch.as_tensor(DADA_SEARCH_SPACE.pairs if op_table is None else op_table,
                                dtype=torch.long)
        self.num_ops = DADA_SEARCH_SPACE.num_ops if num_ops is None else int(num_ops)
        if table.numel() and int(table.max()) >= self.num_ops:
            raise ValueError(f'op_table holds op index {int(table.max())}, but num_ops is '
                             f'{self.num_ops}')
        self.register_buffer('op_table', table, persistent=False)
        self.beta = nn.Parameter(torch.zeros(self.num_ops))
        self.gamma = nn.Parameter(torch.zeros(self.num_ops))
        self.mu = nn.Parameter(torch.zeros(self.num_ops))
        cfg = dict(optimizer)
        cfg['params'] = list(self.parameters())
        self.optimizer = OPTIMIZERS.build(cfg)

    def _per_op(self, grad: torch.Tensor) -> torch.Tensor:
        """Sum of per-slot gradients [N, 2] over the slots of each op -> [num_ops]."""
        out = grad.new_zeros(self.num_ops)
        return out.index_add_(0, self.op_table.reshape(-1), grad.reshape(-1))

    def step(self, policy) -> None:
        """One optimiser step from the effective parameters' ``.grad``; the change of
        beta / gamma / mu is added to the effective alpha / p / m (their own optimiser
        step, from the same ``.grad``, adds its part: the two updates add up)."""
        ga, gp, gm = (t.grad for t in (policy.alpha, policy.probs, policy.magnitudes))
        if ga is None and gp is None and gm is None:
            return
        zeros = torch.zeros_like(policy.probs)
        # alpha_k holds beta of both its ops: d/d beta_o = sum over slots of op o of g_k
        self.beta.grad = self._per_op(ga.unsqueeze(-1).expand(-1, 2) if ga is not None
                                      else zeros)
        self.gamma.grad = self._per_op(gp if gp is not None else zeros)
        self.mu.grad = self._per_op(gm if gm is not None else zeros)
        before = [t.detach().clone() for t in (self.beta, self.gamma, self.mu)]
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        d_beta, d_gamma, d_mu = (t.detach() - b for t, b in
                                 zip((self.beta, self.gamma, self.mu), before))
        with torch.no_grad():
            policy.alpha.add_(d_beta[self.op_table].sum(-1).to(policy.alpha.dtype))
            policy.probs.add_(d_gamma[self.op_table].to(policy.probs.dtype))
            policy.magnitudes.add_(d_mu[self.op_table].to(policy.magnitudes.dtype))

    def state_dict(self, *args, **kwargs):  # noqa: D102 - parameters + optimiser
        return dict(params=dict(beta=self.beta.detach().clone(),
                                gamma=self.gamma.detach().clone(),
                                mu=self.mu.detach().clone()),
                    optimizer=self.optimizer.state_dict())

    def load_state_dict(self, state, strict: bool = True):  # noqa: D102
        with torch.no_grad():
            for name in ('beta', 'gamma', 'mu'):
                getattr(self, name).copy_(state['params'][name])
        self.optimizer.load_state_dict(state['optimizer'])
