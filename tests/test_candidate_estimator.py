"""The candidate-scoring estimator (``dada_mm/search/candidates.py``), checked against an
exactly enumerable per-image toy (``ImageRewardToy``): 4 sub-policies x 2 ops, 16 images
with offsets of standard deviation 10 (image variance far above the policy's effects), and
a level term whose box-smoothed expectation is known in closed form.
"""
import math

import pytest
import torch

from dada_mm.search.candidates import (
    PATTERNS,
    CandidateEstimator,
    CandidateSet,
    SignMirror,
    draw_candidates,
)
from dada_mm.search.control_variate import RelaxControlVariate
from dada_mm.search.distributions import sample_policy
from dada_mm.search.estimators import (
    ESTIMATORS,
    ReinforceEstimator,
    RelaxEstimator,
    build_estimator,
)
from dada_mm.search.learner import LearnerConfig
from dada_mm.search.policy_params import PolicyParameters
from dada_mm.testing.toy_rewards import ImageRewardToy

N = 4
BIG = 20000


@pytest.fixture(scope='module', autouse=True)
def single_thread():
    """Tiny tensors: intra-op threading only adds contention on a busy 2-core box."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def toy_params() -> PolicyParameters:
    params = PolicyParameters(N)
    with torch.no_grad():
        params.alpha.copy_(torch.tensor([0.3, -0.2, 0.5, 0.0]))
        params.probs.copy_(torch.tensor([[0.3, 0.7], [0.5, 0.2], [0.8, 0.6], [0.4, 0.9]]))
        # levels and m +- delta (delta <= 0.25) stay inside [0, 1], where the clamp is flat
        params.magnitudes.copy_(torch.tensor([[0.3, 0.6], [0.5, 0.25], [0.7, 0.4],
                                              [0.45, 0.75]]))
    return params


def toy(offset: float = 10.0) -> ImageRewardToy:
    return ImageRewardToy.random(16, N, offset, torch.Generator().manual_seed(0))


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def score(est, params, problem, num_images, seed, sign=1.0):
    g = gen(seed)
    cand = est.draw(params, num_images, g)
    images = problem.draw_images(num_images, g)
    rewards = sign * problem.rewards(images, cand.k, cand.b, cand.levels)
    return est(rewards, cand, params), cand, images, rewards


def max_z(out, params, problem, delta):
    """Largest |mean - exact| / standard error per group (alpha, probs, magnitudes)."""
    exact = problem.exact_gradient(params, delta)
    per = (out.per_sample_alpha, out.per_sample_probs, out.per_sample_magnitudes)
    zs = []
    for ps, ex in zip(per, exact):
        se = ps.std(0) / math.sqrt(ps.shape[0])
        zs.append(((ps.mean(0) - ex).abs() / (se + 1e-9)).max().item())
    return zs


CONFIGS = [dict(num_draws=3, magnitude_ops=1, magnitude_delta=0.1, baseline='loo'),
           dict(num_draws=2, magnitude_ops=2, magnitude_delta=0.2, baseline='loo'),
           dict(num_draws=1, magnitude_ops=1, magnitude_delta=0.1, baseline='clean'),
           dict(num_draws=4, magnitude_ops=0, magnitude_delta=0.0, baseline='clean')]


@pytest.mark.parametrize('cfg', CONFIGS, ids=lambda c: '-'.join(map(str, c.values())))
def test_unbiased_and_flipped_sign_fails(cfg):
    params, problem = toy_params(), toy()
    est = CandidateEstimator(**cfg)
    out, *_ = score(est, params, problem, BIG, seed=1)
    assert torch.allclose(out.grad_alpha, out.per_sample_alpha.mean(0))
    assert torch.allclose(out.grad_magnitudes, out.per_sample_magnitudes.mean(0))
    z_a, z_p, z_m = max_z(out, params, problem, est.magnitude_delta)
    # 20 entries at 4 standard errors: measured max 1.0-1.9 over these configs
    assert z_a < 4 and z_p < 4, (z_a, z_p)
    if cfg['magnitude_ops']:
        assert z_m < 4, z_m
    else:
        assert torch.equal(out.grad_magnitudes, torch.zeros(N, 2))
    # negative control: the same draws with the reward's sign flipped fail, in every group
    flipped, *_ = score(est, params, problem, BIG, seed=1, sign=-1.0)
    zf = max_z(flipped, params, problem, est.magnitude_delta)
    assert zf[0] > 20 and zf[1] > 20, zf           # measured > 100
    if cfg['magnitude_ops']:
        assert zf[2] > 20, zf


def test_magnitudes_unbiased_for_the_smoothed_objective_only():
    """With delta = 0.25 the estimate matches J_delta and not the unsmoothed J_0 (the level
    term shrinks by sin(w delta) / (w delta) = 0.66 under the box)."""
    params, problem = toy_params(), toy()
    est = CandidateEstimator(num_draws=3, magnitude_ops=2, magnitude_delta=0.25)
    out, *_ = score(est, params, problem, BIG, seed=5)
    assert max(max_z(out, params, problem, 0.25)) < 4
    z_plain = max_z(out, params, problem, 0.0)
    assert z_plain[2] > 20 and z_plain[0] > 8, z_plain    # measured 78 and 23


def test_image_offset_cancels_exactly():
    """Adding any per-image constant to all of an image's candidates changes nothing."""
    params, problem = toy_params(), toy()
    est = CandidateEstimator(num_draws=3, magnitude_ops=1, magnitude_delta=0.1)
    out, cand, _, rewards = score(est, params, problem, 64, seed=3)
    shift = 1000.0 * torch.randn(64, 1, generator=gen(4))
    moved = est(rewards + shift, cand, params)
    for a, b in ((out.per_sample_alpha, moved.per_sample_alpha),
                 (out.per_sample_probs, moved.per_sample_probs),
                 (out.per_sample_magnitudes, moved.per_sample_magnitudes)):
        assert torch.allclose(a, b, atol=2e-3, rtol=0), (a - b).abs().max()
    # and with 'clean' as baseline too
    clean = CandidateEstimator(num_draws=3, magnitude_ops=1, baseline='clean')
    assert torch.allclose(clean(rewards, cand, params).per_sample_alpha,
                          clean(rewards + shift, cand, params).per_sample_alpha, atol=2e-3)


def _train_cv(params, problem, steps=100, batch=128):
    torch.manual_seed(1)
    cv = RelaxControlVariate(N)
    opt, est, g = torch.optim.Adam(cv.parameters(), lr=1e-2), RelaxEstimator(), gen(11)
    for _ in range(steps):
        s = sample_policy(params, batch, g, requires_grad=False)
        out = est(_single_draw_rewards(params, problem, s, g), s, params, cv)
        opt.zero_grad()
        for p, grad in zip(cv.parameters(), out.control_variate_grads):
            p.grad = grad
        opt.step()
    return cv


def _single_draw_rewards(params, problem, s, g):
    levels = params.clamped_magnitudes().detach()[s.k]
    images = problem.draw_images(s.batch_size, g)
    return problem.rewards(images, s.k[:, None], s.b[:, None], levels[:, None])[:, 0]


@pytest.mark.parametrize('offset,bound', [(10.0, 0.05), (0.0, 1.0)])
def test_variance_below_single_draw_at_equal_evaluations(offset, bound):
    """Variance per reward evaluation of the alpha and p estimates (mean over the 12
    entries): the candidate estimator with S images x K candidates against REINFORCE and
    RELAX with S x K images, one draw each (same objective J_0, same evaluations)."""
    params, problem = toy_params(), toy(offset)
    est = CandidateEstimator(num_draws=3, magnitude_ops=0, magnitude_delta=0.0)
    k = est.candidates_per_image
    out, *_ = score(est, params, problem, BIG // k, seed=7)
    v_cand = out.stats['per_sample_variance'] * k       # per image -> per evaluation
    g = gen(8)
    s = sample_policy(params, BIG, g, requires_grad=False)
    f = _single_draw_rewards(params, problem, s, g)
    v_rf = ReinforceEstimator()(f, s, params).stats['per_sample_variance']
    # REINFORCE with the best constant baseline (the true mean reward, an oracle)
    v_rf_mean = ReinforceEstimator()(f - f.mean(), s, params).stats['per_sample_variance']
    cv = _train_cv(params, problem)
    v_relax = RelaxEstimator(False)(f, s, params, cv).stats['per_sample_variance']
    ratios = [v_cand / v for v in (v_rf, v_rf_mean, v_relax)]
    # measured, offset 10: 0.0075, 0.0082, 0.0082; offset 0: 0.19, 0.60, 0.76
    assert max(ratios) < bound, ratios


def test_candidate_layout():
    params = toy_params()
    m, o, delta = 3, 1, 0.1
    cand = draw_candidates(params, 5, gen(0), num_draws=m, magnitude_ops=o,
                           magnitude_delta=delta)
    k_per = 1 + 3 * m + 2 * o * m
    assert cand.k.shape == (5, k_per) and cand.b.shape == (5, k_per, 2)
    assert cand.levels.shape == (5, k_per, 2) and cand.num_candidates == k_per
    assert cand.num_draws == m and cand.magnitude_ops == o and cand.num_images == 5
    mags = params.magnitudes.detach()
    assert torch.equal(cand.b[:, 0], torch.zeros(5, 2))                # clean column
    pats = cand.b[:, 1:1 + 3 * m].view(5, m, 3, 2)
    assert torch.equal(pats, torch.tensor(PATTERNS).expand(5, m, 3, 2))
    assert torch.equal(cand.k[:, 1:1 + 3 * m].view(5, m, 3), cand.draws[..., None].expand(5, m, 3))
    jit = cand.levels[:, 1:1 + 3 * m].view(5, m, 3, 2)
    assert (jit - mags[cand.draws][:, :, None]).abs().max() <= delta + 1e-6
    assert torch.equal(jit[:, :, 0], jit[:, :, 2])                     # common jitter
    mag = cand.levels[:, 1 + 3 * m:].view(5, m, o, 2, 2)
    mb = cand.b[:, 1 + 3 * m:].view(5, m, o, 2, 2)
    j = cand.magnitude_op[..., 0]                                      # [5, M]
    centre = mags[cand.draws].gather(2, j[..., None])[..., 0]
    plus = mag[:, :, 0, 0].gather(2, j[..., None])[..., 0]
    minus = mag[:, :, 0, 1].gather(2, j[..., None])[..., 0]
    assert torch.allclose(plus, centre + delta) and torch.allclose(minus, centre - delta)
    assert (mb[:, :, 0].gather(3, j[:, :, None, None].expand(5, m, 2, 1)) == 1).all()
    assert cand.draw_index().tolist() == [-1, 0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 0, 1, 1, 2, 2]
    assert (cand.k[:, 1:] == cand.draws.gather(1, cand.draw_index()[1:].expand(5, -1))).all()
    image, k, b, levels = cand.flat()
    assert torch.equal(image, torch.arange(5).repeat_interleave(k_per))
    assert torch.equal(k.view(5, k_per), cand.k) and levels.shape == (5 * k_per, 2)
    # determinism from the generator
    again = draw_candidates(params, 5, gen(0), num_draws=m, magnitude_ops=o,
                            magnitude_delta=delta)
    for name in ('k', 'b', 'levels', 'draws', 'magnitude_op'):
        assert torch.equal(getattr(cand, name), getattr(again, name)), name
    other = draw_candidates(params, 5, gen(1), num_draws=m)
    assert not torch.equal(other.levels, cand.levels)


def test_draw_frequencies():
    params = toy_params()
    cand = draw_candidates(params, BIG, gen(2), num_draws=2, magnitude_ops=1)
    theta = params.selection_probs().detach()
    n = cand.draws.numel()
    freq = torch.bincount(cand.draws.reshape(-1), minlength=N).float() / n
    assert ((freq - theta).abs() <= 4 * (theta * (1 - theta) / n).sqrt()).all()
    # magnitude pairs: op uniform, the other op on with its p
    j = cand.magnitude_op[..., 0]
    assert abs(j.float().mean().item() - 0.5) < 4 * math.sqrt(0.25 / j.numel())
    other_bit = cand.b[:, 7:].view(BIG, 2, 1, 2, 2)[:, :, 0, 0].gather(2, (1 - j)[..., None])
    p_other = params.probs.detach()[cand.draws].gather(2, (1 - j)[..., None])
    d = (other_bit - p_other).reshape(-1)
    assert abs(d.mean().item()) < 4 * d.std().item() / math.sqrt(d.numel())


def test_validation_errors_name_the_field():
    with pytest.raises(ValueError, match=r'num_draws must be an int >= 1'):
        CandidateEstimator(num_draws=0)
    with pytest.raises(ValueError, match=r"baseline must be one of \['loo', 'clean'\]"):
        CandidateEstimator(baseline='mean')
    with pytest.raises(ValueError, match=r"baseline='loo' needs num_draws >= 2"):
        CandidateEstimator(num_draws=1)
    for bad in (3, 1.0, True):
        with pytest.raises(ValueError, match=r'magnitude_ops must be one of \[0, 1, 2\]'):
            CandidateEstimator(magnitude_ops=bad)
    for bad in (0.7, -0.1, float('nan'), 'big'):
        with pytest.raises(ValueError, match=r'magnitude_delta must be in \[0, 0.5\]'):
            CandidateEstimator(magnitude_delta=bad)
    with pytest.raises(ValueError, match=r'magnitude_delta must be > 0 when magnitude_ops'):
        CandidateEstimator(magnitude_ops=1, magnitude_delta=0.0)
    with pytest.raises(ValueError, match=r"signs must be one of \['draw', 'both'\], got 'two'"):
        CandidateEstimator(signs='two')
    params = toy_params()
    with pytest.raises(ValueError, match=r'num_images must be an int >= 1'):
        draw_candidates(params, 0, gen(0))
    est = CandidateEstimator()
    cand = est.draw(params, 4, gen(0))
    with pytest.raises(ValueError, match=r'rewards has shape \(4, 15\), expected \[S, K\] = '
                                         r'\[4, 16\]'):
        est(torch.zeros(4, 15), cand, params)
    s = sample_policy(params, 4, gen(0), requires_grad=False)
    with pytest.raises(TypeError, match=r'takes a CandidateSet .* got PolicySample'):
        est(torch.zeros(4), s, params)
    with pytest.raises(ValueError, match=r'candidates.draws must be sub-policy indices in '
                                         r'\[0, 2\)'):
        est(torch.zeros(4, 16), cand, PolicyParameters(2))
    # the set's own options are checked against the estimator's baseline
    one = draw_candidates(params, 4, gen(0), num_draws=1)
    with pytest.raises(ValueError, match=r"baseline='loo' needs num_draws >= 2"):
        est(torch.zeros(4, one.num_candidates), one, params)


def test_registry_apply_and_defaults():
    assert 'candidates' in ESTIMATORS
    est = build_estimator('candidates', num_draws=2, magnitude_ops=0, magnitude_delta=0.0)
    assert isinstance(est, CandidateEstimator) and est.needs_candidates
    assert est.candidates_per_image == 7
    assert not any(ESTIMATORS[name].needs_candidates
                   for name in ('relax', 'reinforce', 'gumbel_st'))
    assert LearnerConfig().estimator == 'candidates'  # the hook's default
    params, problem = toy_params(), toy()
    est = build_estimator('candidates')
    out, cand, _, _ = score(est, params, problem, 8, seed=0)
    assert isinstance(cand, CandidateSet) and out.stats['candidates_per_image'] == 16.0
    assert out.grad_magnitudes.abs().sum() > 0
    out.apply_to(params)
    assert torch.equal(params.alpha.grad, out.grad_alpha)
    assert torch.equal(params.probs.grad, out.grad_probs)
    assert torch.equal(params.magnitudes.grad, out.grad_magnitudes)
    out.apply_to(params)
    assert torch.allclose(params.magnitudes.grad, 2 * out.grad_magnitudes)


def test_float64_and_grad_mode():
    params = toy_params().double()
    problem = toy()
    est = CandidateEstimator()
    g = gen(9)
    cand = est.draw(params, 32, g)
    assert cand.levels.dtype == torch.float64
    rewards = problem.rewards(problem.draw_images(32, g), cand.k, cand.b, cand.levels)
    out = est(rewards.double(), cand, params)          # grad mode on: nothing is tracked
    assert out.grad_alpha.dtype == torch.float64 and not out.grad_alpha.requires_grad
    assert torch.isfinite(out.per_sample_probs).all()
    assert params.alpha.grad is None
    with torch.no_grad():
        again = est(rewards.double(), cand, params)
    assert torch.equal(again.grad_probs, out.grad_probs)


def test_sign_mirror_scores_the_rows_that_apply_a_signed_op_at_both_signs():
    """Only rows that *apply* a signed op (ShearX 0, TranslateY 3, Rotate 4) are mirrored,
    with their signs negated; folding averages a mirrored row's two values and leaves the
    others alone, and the split weights keep every row's total weight."""
    ops = torch.tensor([[0, 6], [6, 7], [4, 5], [3, 2], [9, 10]])
    apply = torch.tensor([[0., 1.], [1., 1.], [1., 0.], [0., 1.], [1., 1.]])
    mirror = SignMirror.of(ops, apply)
    assert mirror.rows.tolist() == [2, 3] and mirror.num_rows == 5
    signs = torch.tensor([[1., -1.], [1., 1.], [-1., 1.], [1., -1.], [1., 1.]])
    assert mirror.extend_signs(signs).tolist() == signs.tolist() + [[1., -1.], [-1., 1.]]
    assert mirror.extend(ops)[5:].tolist() == [[4, 5], [3, 2]]
    values = torch.tensor([1., 2., 3., 4., 5., 30., 40.])
    assert mirror.fold(values).tolist() == [1., 2., 16.5, 22., 5.]
    w = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5])
    split = mirror.split_weights(w)
    assert split.tolist() == pytest.approx([0.1, 0.2, 0.15, 0.2, 0.5, 0.15, 0.2])
    assert float((split * values).sum()) == pytest.approx(float((w * mirror.fold(values)).sum()))
