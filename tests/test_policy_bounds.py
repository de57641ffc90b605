"""p and m sitting on a bound of [0, 1] move back inward when their gradient says so.

The projection puts p and m exactly on 0 or 1; a plain clamp where they are used has
zero gradient there, so they froze (issue 12, fault 3). The straight-through clamp
keeps the value clamped and lets the gradient through.
"""
import torch

from dada_mm.search.distributions import sample_policy
from dada_mm.search.estimators import build_estimator
from dada_mm.search.policy_params import PolicyParameters, straight_through_clamp
from dada_mm.testing.toy_rewards import exact_gradient


def test_straight_through_clamp_value_and_gradient():
    x = torch.tensor([-0.5, 0.0, 0.3, 1.0, 1.7], requires_grad=True)
    y = straight_through_clamp(x, 0.0, 1.0)
    assert torch.equal(y.detach(), torch.tensor([0.0, 0.0, 0.3, 1.0, 1.0]))
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones(5))


def projected_adam(params, grad_fn, steps=20):
    opt = torch.optim.Adam(params.parameters(), lr=0.05, betas=(0.5, 0.999))
    for _ in range(steps):
        opt.zero_grad()
        grad_fn()
        opt.step()
        with torch.no_grad():  # the hook's projection
            params.probs.clamp_(0.0, 1.0)
            params.magnitudes.clamp_(0.0, 1.0)


def test_probability_on_a_bound_moves_inward_under_exact_gradient():
    """Sub-policy 0's first op is harmful when on (reward = loss): p[0, 0] = 1 must fall,
    p[1, 1] = 0 with a helpful op must rise."""
    params = PolicyParameters(num_sub_policies=2)
    with torch.no_grad():
        params.probs.copy_(torch.tensor([[1.0, 0.5], [0.5, 0.0]]))
    table = torch.zeros(2, 2, 2)
    table[0, 1, :] = 1.0    # op (0, 0) on: loss 1
    table[1, :, 1] = -1.0   # op (1, 1) on: loss -1

    def grad_fn():
        ga, gp = exact_gradient(params, table)
        params.alpha.grad, params.probs.grad = ga, gp
        params.magnitudes.grad = torch.zeros_like(params.magnitudes)

    ga, gp = exact_gradient(params, table)
    assert gp[0, 0] > 0.1 and gp[1, 1] < -0.1   # nonzero on the bound, pointing inward
    projected_adam(params, grad_fn, steps=3)
    assert params.probs[0, 0] < 0.95 and params.probs[1, 1] > 0.05


def test_probability_on_a_bound_gets_a_score_gradient():
    """The estimators differentiate log P through the same clamp: at p = 1 the
    per-sample score is about 1 / (1 - eps) for b = 1 (float32 rounding of the logit
    puts it at 1.06), not 0."""
    params = PolicyParameters(num_sub_policies=1)
    with torch.no_grad():
        params.probs.fill_(1.0)
    sample = sample_policy(params, 8, torch.Generator().manual_seed(0),
                           requires_grad=False)
    est = build_estimator('reinforce')(torch.ones(8), sample, params)
    assert torch.all(sample.b == 1)
    assert torch.all((est.grad_probs > 0.9) & (est.grad_probs < 1.1)), est.grad_probs


def test_magnitude_on_a_bound_moves_inward():
    params = PolicyParameters(num_sub_policies=1)
    with torch.no_grad():
        params.magnitudes.copy_(torch.tensor([[1.0, 0.0]]))
    target = torch.tensor([[0.7, 0.2]])

    def grad_fn():
        loss = (params.clamped_magnitudes() - target).pow(2).sum()
        params.magnitudes.grad, = torch.autograd.grad(loss, [params.magnitudes])

    projected_adam(params, grad_fn, steps=10)
    m = params.magnitudes.detach()[0]
    assert 0.6 < m[0] < 0.95 and 0.05 < m[1] < 0.3, m
    # the plain clamp of the old code: no gradient on the bound, no movement
    x = torch.tensor([1.0, 0.0], requires_grad=True)
    (x.clamp(0, 1) - target[0]).pow(2).sum().backward()
    assert torch.equal(x.grad, torch.zeros(2))
