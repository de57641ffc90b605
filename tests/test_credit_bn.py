"""Credit assignment under BatchNorm, against the exact gradient of an enumerable toy.

B images share a BatchNorm layer, so each image's loss depends on every image's draw.
The exact gradient of E[mean_i loss_i] is enumerated over all (N * 4) ** B joint outcomes.
``credit='batch'`` (joint score) must match it within its standard error; ``'image'``
(each image's own score only) misses the cross terms and must not.
"""
import itertools

import pytest
import torch

from dada_mm.search.control_variate import RelaxControlVariate
from dada_mm.search.distributions import sample_policy
from dada_mm.search.estimators import build_estimator
from dada_mm.search.policy_params import PolicyParameters
from dada_mm.search.reward import assign_credit

N, B, D = 2, 3, 2


def toy():
    g = torch.Generator().manual_seed(7)
    base = torch.randn(B, D, generator=g)            # image i's clean features
    delta = 2.0 * torch.randn(N, 2, D, generator=g)  # what op j of sub-policy k adds
    w = 3.0 * torch.randn(D, generator=g)
    labels = torch.tensor([1.0, 0.0, 1.0])
    return base, delta, w, labels


def batch_losses(x, w, labels):
    """[..., B] per-image losses of a batch-normalised linear logit."""
    mu = x.mean(dim=-2, keepdim=True)
    var = x.var(dim=-2, unbiased=False, keepdim=True)
    xn = (x - mu) / torch.sqrt(var + 1e-5)
    logit = (xn * w).sum(-1)
    return torch.nn.functional.binary_cross_entropy_with_logits(
        logit, labels.expand_as(logit), reduction='none')


def augmented(base, delta, k, b):
    """Features after each image's draw: k [..., B], b [..., B, 2]."""
    d = delta[k]                                   # [..., B, 2, D]
    return base + (b.unsqueeze(-1) * d).sum(-2)


def exact_gradient(params, base, delta, w, labels):
    theta = params.selection_probs()
    p = params.clamped_probs()
    outcomes = [(k, b1, b2) for k in range(N) for b1 in (0, 1) for b2 in (0, 1)]
    total = theta.new_zeros(())
    for joint in itertools.product(outcomes, repeat=B):
        k = torch.tensor([o[0] for o in joint])
        b = torch.tensor([[o[1], o[2]] for o in joint], dtype=torch.float32)
        prob = theta.new_ones(())
        for i in range(B):
            ki, (b1, b2) = int(k[i]), b[i].tolist()
            prob = prob * theta[ki] * (p[ki, 0] if b1 else 1 - p[ki, 0]) * (
                p[ki, 1] if b2 else 1 - p[ki, 1])
        total = total + prob * batch_losses(augmented(base, delta, k, b), w,
                                            labels).mean()
    ga, gp = torch.autograd.grad(total, [params.alpha, params.probs])
    return torch.cat([ga.reshape(-1), gp.reshape(-1)])


def monte_carlo(params, credit, estimator_name, base, delta, w, labels, groups=40000,
                baseline=0.0):
    gen = torch.Generator().manual_seed(11)
    sample = sample_policy(params, groups * B, gen, tau=0.5, requires_grad=False)
    k = sample.k.view(groups, B)
    b = sample.b.view(groups, B, 2)
    losses = batch_losses(augmented(base, delta, k, b), w, labels) - baseline
    reward = torch.stack([assign_credit(row, credit) for row in losses]).reshape(-1)
    estimator = build_estimator(estimator_name)
    cv = RelaxControlVariate(num_sub_policies=N) if estimator_name == 'relax' else None
    if cv is not None:  # a non-trivial control variate: unbiased for any phi
        torch.manual_seed(0)
        for prm in cv.parameters():
            torch.nn.init.normal_(prm, std=0.5)
    est = estimator(reward, sample, params, cv)
    per = torch.cat([est.per_sample_alpha.reshape(groups * B, -1),
                     est.per_sample_probs.reshape(groups * B, -1)], dim=1)
    per_group = per.view(groups, B, -1).mean(1)          # one estimate per batch
    return per_group.mean(0), per_group.std(0) / groups ** 0.5


@pytest.fixture(scope='module')
def setting():
    params = PolicyParameters(num_sub_policies=N)
    with torch.no_grad():
        params.alpha.copy_(torch.tensor([0.4, -0.3]))
        params.probs.copy_(torch.tensor([[0.3, 0.6], [0.7, 0.45]]))
    data = toy()
    return params, data, exact_gradient(params, *data)


@pytest.mark.parametrize('estimator_name', ['reinforce', 'relax'])
def test_batch_credit_is_unbiased_under_batchnorm(setting, estimator_name):
    params, data, exact = setting
    mean, se = monte_carlo(params, 'batch', estimator_name, *data, baseline=0.5)
    z = (mean - exact).abs() / se
    assert float(z.max()) < 4.5, (mean, exact, z)
    # the gradient is far outside the noise: a flipped sign or a zero estimate fails
    assert float((exact.abs() / se).max()) > 20.0


def test_image_credit_is_biased_under_batchnorm(setting):
    params, data, exact = setting
    mean, se = monte_carlo(params, 'image', 'reinforce', *data, baseline=0.5)
    z = (mean - exact).abs() / se
    # the cross-image terms are of the same order as the own-image ones
    assert float(z.max()) > 10.0, (mean, exact, z)
    rel = float((mean - exact).norm() / exact.norm())
    assert rel > 0.2, rel


def test_image_credit_is_unbiased_without_coupling():
    """Control: without BatchNorm (per-image losses) the per-image credit is exact."""
    params = PolicyParameters(num_sub_policies=N)
    with torch.no_grad():
        params.alpha.copy_(torch.tensor([0.4, -0.3]))
        params.probs.copy_(torch.tensor([[0.3, 0.6], [0.7, 0.45]]))
    base, delta, w, labels = toy()

    def uncoupled(x, w, labels):
        logit = (x * w).sum(-1)
        return torch.nn.functional.binary_cross_entropy_with_logits(
            logit, labels.expand_as(logit), reduction='none')

    global batch_losses
    coupled = batch_losses
    try:
        batch_losses = uncoupled
        exact = exact_gradient(params, base, delta, w, labels)
        mean, se = monte_carlo(params, 'image', 'reinforce', base, delta, w, labels,
                               baseline=0.5)
    finally:
        batch_losses = coupled
    assert float(((mean - exact).abs() / se).max()) < 4.5
    assert float((exact.abs() / se).max()) > 20.0


def test_assign_credit_values_and_errors():
    r = torch.tensor([1.0, 2.0, 6.0])
    assert torch.equal(assign_credit(r, 'image'), r)
    assert torch.allclose(assign_credit(r, 'batch'), torch.full((3, ), 9.0))
    with pytest.raises(ValueError, match="credit must be one of \\['image', 'batch'\\]"):
        assign_credit(r, 'group')
