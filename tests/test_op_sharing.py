"""OpSharing: per-op offsets of alpha, p and m follow the chain rule and add to the
sub-policies' own update."""
import torch

from dada_mm.search.op_sharing import OpSharing
from dada_mm.search.policy_params import PolicyParameters
from dada_mm.search_space import OP_INDEX, SUB_POLICIES


def test_per_op_step_is_the_chain_rule_of_the_shared_parameterisation():
    policy = PolicyParameters()
    sharing = OpSharing(dict(type='SGD', lr=1.0))
    g = torch.Generator().manual_seed(0)
    ga = torch.randn(105, generator=g)
    gp = torch.randn(105, 2, generator=g)
    gm = torch.randn(105, 2, generator=g)
    policy.alpha.grad, policy.probs.grad, policy.magnitudes.grad = ga, gp, gm
    before = [t.detach().clone() for t in policy.parameters()]
    sharing.step(policy)
    # an independent computation: the gradient of beta_o sums g_alpha over every
    # sub-policy that holds op o (once per slot), gamma / mu over the slots of op o
    inv = OP_INDEX['Invert']
    holds = [k for k, sub in enumerate(SUB_POLICIES) if 'Invert' in sub]
    slots = [(k, sub.index('Invert')) for k, sub in enumerate(SUB_POLICIES)
             if 'Invert' in sub]
    assert len(holds) == 14
    torch.testing.assert_close(sharing.beta.detach()[inv], -ga[holds].sum())
    torch.testing.assert_close(sharing.gamma.detach()[inv],
                               -torch.stack([gp[k, j] for k, j in slots]).sum())
    torch.testing.assert_close(sharing.mu.detach()[inv],
                               -torch.stack([gm[k, j] for k, j in slots]).sum())
    # the effective alpha of (ShearX, Invert) moved by beta[ShearX] + beta[Invert]
    k = SUB_POLICIES.index(('ShearX', 'Invert'))
    expect = sharing.beta.detach()[OP_INDEX['ShearX']] + sharing.beta.detach()[inv]
    torch.testing.assert_close(policy.alpha.detach()[k] - before[0][k], expect)
    torch.testing.assert_close(policy.probs.detach()[k, 1] - before[1][k, 1],
                               sharing.gamma.detach()[inv])
    torch.testing.assert_close(policy.magnitudes.detach()[k, 0] - before[2][k, 0],
                               sharing.mu.detach()[OP_INDEX['ShearX']])


def test_state_round_trip():
    policy = PolicyParameters()
    a = OpSharing(dict(type='Adam', lr=0.01))
    policy.alpha.grad = torch.ones(105)
    policy.probs.grad = torch.ones(105, 2)
    policy.magnitudes.grad = torch.ones(105, 2)
    a.step(policy)
    b = OpSharing(dict(type='Adam', lr=0.01))
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.beta, b.beta) and torch.equal(a.mu, b.mu)
    assert b.optimizer.state_dict()['state'][0]['step'] == 1
