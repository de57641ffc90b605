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


def test_p_m_per_op_moves_p_and_m_by_the_per_op_offsets_alone():
    """``p_m_per='op'``: after a learner step every slot of an op holds the same p and m
    (the start plus that op's offset, whose step sums the slots' gradients), while alpha
    keeps its per-sub-policy part; ``'sub_policy'`` lets the slots of an op differ. A
    step whose gradient raises Invert's p everywhere raises it, and a flipped sign fails."""
    import pytest

    from dada_mm.search.candidates import CandidateEstimator
    from dada_mm.search.learner import LearnerConfig, PolicyLearner, PolicyReward

    def run(p_m_per):
        cfg = LearnerConfig(p_m_per=p_m_per, reward_normalization=None,
                            estimator_options=dict(reward='dot', num_images=16))
        learner = PolicyLearner(cfg, torch.device('cpu'), seed=0)
        est = CandidateEstimator(reward='dot', num_images=16)
        cand = est.draw(learner.policy, 16, learner.generator)
        _, k, b, _ = cand.flat()
        ops = learner.op_indices_of(k)
        # lower is better: a candidate that applies Invert is rewarded, whatever else
        holds = ((ops == OP_INDEX['Invert']) & (b > 0)).any(1).float()
        rewards = (-holds + 0.1 * torch.randn(len(k), generator=torch.Generator()
                                              .manual_seed(1))).view(16, -1)
        learner.step(PolicyReward(per_image=rewards, grad_magnitudes=torch.zeros(105, 2),
                                  val_loss=0.0, h_mean=0.0), cand)
        return learner.policy

    slots = [(k, sub.index('Invert')) for k, sub in enumerate(SUB_POLICIES)
             if 'Invert' in sub]
    shared = run('op')
    p = torch.stack([shared.probs.detach()[k, j] for k, j in slots])
    m = torch.stack([shared.magnitudes.detach()[k, j] for k, j in slots])
    assert float(p.max() - p.min()) < 1e-6 and float(m.max() - m.min()) < 1e-6
    assert float(p[0]) > 0.5 + 1e-3  # Invert's p rose, by the shared offset alone
    own = run('sub_policy')
    p_own = torch.stack([own.probs.detach()[k, j] for k, j in slots])
    assert float(p_own.max() - p_own.min()) > 1e-3
    assert float(shared.alpha.detach().std()) > 0  # the selection stays per sub-policy
    with pytest.raises(ValueError, match=r"p_m_per must be one of \['sub_policy', 'op'\]"):
        LearnerConfig(p_m_per='slot')
    with pytest.raises(ValueError, match=r"p_m_per='op' .* needs share_ops=True"):
        LearnerConfig(p_m_per='op', share_ops=False)
