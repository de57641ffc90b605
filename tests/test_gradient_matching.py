"""The ``'match'`` candidate reward's pieces against exact values: the logit layer's
per-image gradient against torch.func, the matching direction against autograd of the
cosine, the policy weights against the exact expectation, and each candidate's reward
against the derivative of the cosine in that candidate's weight."""
import pytest
import torch
import torch.nn.functional as F

from dada_mm.search.bilevel import labels_of, trainable_parameters
from dada_mm.search.candidates import CandidateEstimator, SignMirror, draw_candidates
from dada_mm.search.gradient_matching import (
    check_logit_layer,
    held_out_matrix,
    logit_layer,
    logit_layer_parts,
    match_scores,
    matching_direction,
    policy_weights,
    resolve_reward,
    weight_space_match_scores,
)
from dada_mm.search.policy_params import PolicyParameters


@pytest.fixture(scope='module')
def classifier(tiny_classifier):
    """The shared tiny classifier, with running statistics that are not the initial ones."""
    model, images, samples = tiny_classifier
    with torch.no_grad():
        model(model.data_preprocessor({'inputs': images, 'data_samples': samples},
                                      False)['inputs'], mode='tensor')
    return model, images, samples


def per_sample_gradients(model, inputs, data_samples, labels):
    """Each image's own cross-entropy gradient in every trainable weight, in eval mode, from
    torch.func (the reference the closed form is checked against)."""
    from torch.func import functional_call, grad, vmap
    params = {n: p.detach() for n, p in trainable_parameters(model).items()}
    buffers = {n: b for n, b in model.named_buffers()}
    was_training = model.training
    model.eval()
    try:
        x = model.data_preprocessor({'inputs': inputs, 'data_samples': data_samples},
                                    False)['inputs']

        def loss(p, xi, yi):
            out = functional_call(model, {**p, **buffers}, args=(),
                                  kwargs=dict(inputs=xi[None], mode='tensor'))
            return F.cross_entropy(out, yi[None])

        return vmap(grad(loss), in_dims=(None, 0, 0))(params, x, labels)
    finally:
        model.train(was_training)


def test_logit_layer_gradient_is_outer_product_of_error_and_input(classifier):
    """outer(e, h) is each image's own cross-entropy gradient in the head's fc weight and
    bias, in eval mode (torch.func per-sample gradients as the reference)."""
    model, images, samples = classifier
    assert logit_layer(model)[0] == 'head.fc'
    labels = labels_of(samples)
    e, h = logit_layer_parts(model, images, samples, labels)
    assert model.training  # restored
    ref = per_sample_gradients(model, images, samples, labels)
    got = torch.einsum('nc,nd->ncd', e, h)
    torch.testing.assert_close(got[:, :, :-1].double(), ref['head.fc.weight'],
                               rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(got[:, :, -1].double(), ref['head.fc.bias'],
                               rtol=1e-5, atol=1e-7)
    v = {n: g.sum(0) for n, g in ref.items()}
    torch.testing.assert_close(held_out_matrix(model, v), got.sum(0).float(),
                               rtol=1e-4, atol=1e-6)


def test_matching_direction_is_the_gradient_of_the_cosine():
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(4, 6, generator=g, dtype=torch.float64, requires_grad=True)
    held = torch.randn(4, 6, generator=g, dtype=torch.float64)
    cos = F.cosine_similarity(mean.reshape(1, -1), held.reshape(1, -1))[0]
    (exact, ) = torch.autograd.grad(cos, mean)
    torch.testing.assert_close(matching_direction(mean.detach(), held), exact)
    # a candidate whose gradient moves the mean towards v scores positive, away negative
    u = matching_direction(mean.detach(), held)
    assert float((held * u).sum()) > 0 > float((-held * u).sum())


def test_policy_weights_estimate_the_policys_expected_value_without_bias():
    """sum_c w_c f(k_c, b_c) over drawn candidate sets has the exact policy expectation of
    f as its mean (within 4 standard errors), the weights sum to 1 and the magnitude
    columns weigh nothing. f depends on the sub-policy and the apply bits, so a wrongly
    weighted pattern or draw shows."""
    params = PolicyParameters(4)
    with torch.no_grad():
        params.alpha.copy_(torch.tensor([0.3, -0.2, 0.5, 0.0]))
        params.probs.copy_(torch.tensor([[0.3, 0.7], [0.5, 0.2], [0.8, 0.6], [0.4, 0.9]]))
    table = torch.randn(4, 2, 2, generator=torch.Generator().manual_seed(3),
                        dtype=torch.float64)
    table[:, 0, 0] = table[0, 0, 0]  # no op applied: the clean image, whatever k
    theta, p = params.selection_probs().detach().double(), params.probs.detach().double()
    exact = sum(theta[k] * ((1 - b1 - p[k, 0]).abs() * (1 - b2 - p[k, 1]).abs()
                            * table[k, b1, b2]) for k in range(4)
                for b1 in (0, 1) for b2 in (0, 1))
    g = torch.Generator().manual_seed(0)
    values = []
    for _ in range(3000):
        cand = draw_candidates(params, 3, g, num_draws=2, magnitude_ops=1)
        w = policy_weights(cand, params.clamped_probs(cand.eps)).double()
        assert float(w.sum()) == pytest.approx(1.0)
        assert float(w[:, 1 + 3 * 2:].abs().sum()) == 0.0
        bits = cand.b.long()
        values.append(float((w * table[cand.k, bits[..., 0], bits[..., 1]]).sum()))
    values = torch.tensor(values, dtype=torch.float64)
    se = float(values.std() / len(values) ** 0.5)
    assert abs(float(values.mean()) - float(exact)) < 4 * se, (values.mean(), exact, se)


def _candidate_rows(samples, mirrored):
    """The candidate rows the match tests score: 2 images' candidates (one draw each) of a
    uniform 105-sub-policy policy, random [R, 3, 20, 20] images for them, their labels and
    samples; with ``mirrored`` (row indices) a ``SignMirror`` whose extra rows follow.
    Returns ``(params, cand, mirror, inputs, labels, data, generator)``; the generator has
    drawn the images and goes on for the test's own random values."""
    params = PolicyParameters(105)
    cand = draw_candidates(params, 2, torch.Generator().manual_seed(0), num_draws=1)
    image, *_ = cand.flat()
    mirror = (None if mirrored is None
              else SignMirror(rows=torch.tensor(mirrored), num_rows=len(image)))
    rows_image = image if mirror is None else mirror.extend(image)
    g = torch.Generator().manual_seed(2)
    inputs = torch.randint(0, 256, (len(rows_image), 3, 20, 20), generator=g).double()
    labels = labels_of(samples)[rows_image]
    data = [samples[i] for i in rows_image.tolist()]
    return params, cand, mirror, inputs, labels, data, g


def _mean_of_signs(flat, mirror):
    """Per-row gradients [R (+ R'), P] -> [R]: a mirrored row's gradient is the mean of its
    two signs' (the reference for ``signs='both'``)."""
    if mirror is None:
        return flat
    n = mirror.num_rows
    out = flat[:n].clone()
    out[mirror.rows] = (flat[mirror.rows] + flat[n:]) / 2
    return out


@pytest.mark.parametrize('mirrored', [None, (1, 2, 6)])
def test_a_candidates_score_is_the_derivative_of_the_cosine_in_its_weight(classifier,
                                                                          mirrored):
    """With g_c each candidate's own logit-layer gradient (torch.func, independent of the
    closed form) and w_c its policy weight, ``match_scores`` is d cos(sum_c w_c g_c, v) /
    d w_c: how much more of that candidate in the policy would raise the cosine (its
    reward to the estimator is the negative). With ``signs='both'`` (the ``mirrored``
    rows scored a second time as extra rows), a mirrored candidate's g_c is the mean of
    its two sign versions' gradients, in the policy's expected gradient and in its
    score."""
    model, images, samples = classifier
    params, cand, mirror, inputs, labels, data, g = _candidate_rows(samples, mirrored)
    v = {n: torch.randn(p.shape, generator=g, dtype=p.dtype)
         for n, p in trainable_parameters(model).items()}
    probs = params.clamped_probs(cand.eps)
    got = match_scores(model, inputs, data, labels, v, cand, probs, mirror=mirror)

    per = per_sample_gradients(model, inputs, data, labels)
    flat = torch.cat([per['head.fc.weight'].flatten(1), per['head.fc.bias']], 1)
    flat = _mean_of_signs(flat, mirror)
    held = torch.cat([v['head.fc.weight'].flatten(), v['head.fc.bias']])
    w = policy_weights(cand, probs).reshape(-1).double().requires_grad_(True)
    cos = F.cosine_similarity((w[:, None] * flat).sum(0)[None], held[None])[0]
    (exact, ) = torch.autograd.grad(cos, w)
    assert got.shape == exact.shape
    torch.testing.assert_close(got.double(), exact, rtol=1e-4, atol=1e-7)
    assert exact.abs().max() > 1e-3


def test_options_are_checked_by_name():
    with pytest.raises(ValueError, match=r"reward='match' scores each candidate's own "
                                         r"gradient.*norm='running'"):
        CandidateEstimator(reward='match', norm='batch')
    headless = torch.nn.Module()
    headless.head = torch.nn.Identity()
    with pytest.raises(ValueError, match=r"reward='match' needs a classifier head that ends "
                                         r"in an nn.Linear.*got head Identity"):
        logit_layer(headless)
    with pytest.raises(ValueError, match=r"reward must be one of \['auto', 'cos_class', "
                                         r"'dot', 'match', 'match_all'\], got 'cos'"):
        CandidateEstimator(reward='cos')
    with pytest.raises(ValueError, match=r"reward='match_all' scores each candidate's own "
                                         r"gradient.*norm='running'"):
        CandidateEstimator(reward='match_all', norm='batch')


def test_a_head_whose_last_linear_is_not_the_logits_is_refused(classifier):
    """A head that rescales (or averages) its last nn.Linear's output: the closed form
    would be the gradient of another function, so it is refused by name."""
    model, images, samples = classifier
    handle = model.head.register_forward_hook(lambda module, args, out: 2.0 * out)
    try:
        with pytest.raises(ValueError, match=r"needs the head's last nn.Linear \(head.fc\) "
                                             r"to output the logits; LinearClsHead"):
            logit_layer_parts(model, images, samples, labels_of(samples))
    finally:
        handle.remove()


@pytest.mark.parametrize('frozen', [False, True])
def test_the_hook_refuses_match_before_the_search_starts(frozen):
    """No logit layer, or a frozen one, is refused when the hook is built (before the
    first policy update, however late ``search_begin`` puts it)."""
    from types import SimpleNamespace

    from dada_mm.search.hook import DADASearchHook
    model = torch.nn.Module()
    model.backbone = torch.nn.Linear(2, 2)
    if frozen:
        model.head = torch.nn.Sequential(torch.nn.Linear(2, 3))
        model.head.requires_grad_(False)
        match = (r"reward='match' cannot score Module: its logit layer head.0 is frozen "
                 r"\(\['weight', 'bias'\] do not require grad\)")
    else:
        model.head = torch.nn.Identity()
        match = (r"reward='match' cannot score Module: it needs a classifier head that ends "
                 r"in an nn.Linear.*got head Identity; use reward='dot'")
    hook = DADASearchHook(val_dataloader=dict(batch_size=2),
                          estimator=dict(type='candidates', reward='match'))
    hook.bilevel_reward.check_model = lambda runner, model: None
    with pytest.raises(ValueError, match=match):
        hook._build(SimpleNamespace(model=model, seed=0))


def _head_variant(model, **changes):
    """A shallow copy of ``model`` whose head is replaced or changed (the weights shared)."""
    import copy
    other = copy.copy(model)
    other._modules = dict(model._modules)
    head = copy.copy(model.head)
    head._modules = dict(model.head._modules)
    for key, value in changes.items():
        if key == 'head_type':
            head.__class__ = value
        elif key == 'loss':
            head._modules['loss_module'] = value
    other._modules['head'] = head
    return other


def test_auto_resolves_to_match_only_where_match_can_score_the_model(classifier):
    """'auto': 'match' for an mmpretrain LinearClsHead under softmax cross-entropy with
    running statistics; 'dot', with the reason, for a detector, norm='batch', a head
    outside MATCH_HEADS (DeiT's distillation head subclasses VisionTransformerClsHead), a
    loss other than softmax cross-entropy, or a frozen logit layer."""
    from mmpretrain.models.heads import DeiTClsHead
    from mmpretrain.models.losses import CrossEntropyLoss, LabelSmoothLoss
    model = classifier[0]
    assert resolve_reward('auto', model, False, 'running') == (
        'match', 'LinearClsHead, its trainable logit layer head.fc')
    assert resolve_reward('dot', model, False, 'running') == ('dot', 'as configured')
    assert resolve_reward('match', model, True, 'batch') == ('match', 'as configured')
    assert resolve_reward('auto', model, True, 'running') == ('dot', 'a detector')
    reward, why = resolve_reward('auto', model, False, 'batch')
    assert (reward, why) == ('dot', "norm='batch' (match scores each candidate with running "
                                    'statistics)')
    reward, why = resolve_reward('auto', _head_variant(model, head_type=DeiTClsHead), False,
                                 'running')
    assert reward == 'dot' and why.startswith('head DeiTClsHead is not one of')
    cases = [(LabelSmoothLoss(0.1), 'its loss is LabelSmoothLoss, not CrossEntropyLoss'),
             (CrossEntropyLoss(use_sigmoid=True), 'its CrossEntropyLoss uses a sigmoid'),
             (CrossEntropyLoss(class_weight=[1.0, 2.0, 1.0]),
              'its CrossEntropyLoss weights the classes')]
    for loss, reason in cases:
        other = _head_variant(model, loss=loss)
        reward, why = resolve_reward('auto', other, False, 'running')
        assert reward == 'dot' and why.startswith(reason), why
        with pytest.raises(ValueError, match=r"reward='match' cannot score ImageClassifier: "
                                             + reason):
            check_logit_layer(other)
    fc = model.head.fc
    fc.weight.requires_grad_(False)
    try:
        reward, why = resolve_reward('auto', model, False, 'running')
        assert (reward, why) == ('dot', "its logit layer head.fc is frozen (['weight'] do not "
                                        'require grad)')
    finally:
        fc.weight.requires_grad_(True)


def test_an_unresolved_auto_reward_is_refused_by_the_step(classifier):
    """The estimator built outside the hook keeps 'auto': the candidate step refuses it
    rather than silently scoring by one reward."""
    from types import SimpleNamespace

    from dada_mm.search.bilevel_reward import BilevelReward
    learner = SimpleNamespace(estimator=CandidateEstimator())
    assert learner.estimator.reward == 'auto'
    with pytest.raises(ValueError, match=r"the candidate reward 'auto' is resolved for a "
                                         r'model by DADASearchHook'):
        BilevelReward().score_candidates(classifier[0], None, {}, learner, 'bgr')


@pytest.mark.parametrize('reward', ['dot', 'cos_class'])
def test_both_signs_score_a_signed_candidate_as_the_mean_of_its_two_signs(
        classifier, reward, check_both_signs):
    """The candidate step with ``signs='both'``: a candidate that applies a signed op gets
    the mean of the rewards it has with the drawn signs and with them flipped (each scored
    by a ``signs='draw'`` step from the same random stream); the other candidates get the
    drawn signs' reward (``check_both_signs`` in conftest)."""
    from types import SimpleNamespace

    from dada_mm.search.bilevel_reward import BilevelReward
    from dada_mm.search.learner import LearnerConfig, PolicyLearner
    model, images, samples = classifier
    g = torch.Generator().manual_seed(5)
    params = trainable_parameters(model)
    v = {n: torch.randn(p.shape, generator=g, dtype=p.dtype) for n, p in params.items()}
    step = SimpleNamespace(images=images, data_samples=samples,
                           weights={n: p.detach().clone() for n, p in params.items()})

    def make_learner(signs):
        return PolicyLearner(LearnerConfig(estimator_options=dict(
            reward=reward, signs=signs, num_images=4)), torch.device('cpu'), seed=3)

    def score(learner):
        scorer = BilevelReward(held_out_norm='running')
        scorer.held_out_direction = lambda *args, **kwargs: (v, 1e-4, 1.0, 0.0)
        return scorer.score_candidates(model, step, {'inputs': images,
                                                     'data_samples': samples},
                                       learner, 'rgb')

    check_both_signs(make_learner, score)


@pytest.mark.parametrize('norm', ['running', 'batch'])
def test_the_held_out_logit_gradient_equals_the_full_backward_in_that_layer(classifier,
                                                                            norm):
    """One forward pass gives the held-out gradient in the logit layer that the backward
    through the whole network gives (``validation_gradient``), and the same loss; train
    mode leaves the running statistics as they were."""
    from dada_mm.search.bilevel import validation_gradient
    from dada_mm.search.gradient_matching import held_out_logit_gradient
    model, images, samples = classifier
    batch = {'inputs': images.flip(0), 'data_samples': samples[::-1]}
    params = trainable_parameters(model)
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    ref, ref_loss = validation_gradient(model, batch, params, norm=norm)
    got, loss = held_out_logit_gradient(model, batch, params, norm=norm)
    assert set(got) == {'head.fc.weight', 'head.fc.bias'}
    for name in got:
        assert got[name].abs().max() > 1e-3  # not a vanishing gradient
        torch.testing.assert_close(got[name], ref[name], rtol=1e-9, atol=1e-12)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert model.training
    for n, b in model.named_buffers():
        torch.testing.assert_close(b, buffers[n], rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"norm must be 'batch' or 'running', got 'eval'"):
        held_out_logit_gradient(model, batch, params, norm='eval')


def test_the_match_step_scores_with_the_one_pass_held_out_gradient(classifier, monkeypatch):
    """The candidate step with ``reward='match'`` never runs the full held-out backward,
    and its rewards are those that the full backward's gradient gives."""
    from types import SimpleNamespace

    from dada_mm.search import bilevel_reward
    from dada_mm.search.bilevel import validation_gradient
    from dada_mm.search.learner import LearnerConfig, PolicyLearner
    model, images, samples = classifier
    params = trainable_parameters(model)
    step = SimpleNamespace(images=images, data_samples=samples, device=torch.device('cpu'),
                           lr=0.1, weights={n: p.detach().clone() for n, p in params.items()})
    val = {'inputs': images.flip(0), 'data_samples': samples[::-1]}

    def rewards():
        learner = PolicyLearner(LearnerConfig(estimator_options=dict(
            reward='match', num_images=4)), torch.device('cpu'), seed=3)
        scorer = bilevel_reward.BilevelReward(held_out_norm='running')
        return scorer.score_candidates(model, step, val, learner, 'rgb')[0]

    def no_full_backward(*args, **kwargs):
        raise AssertionError('the full held-out backward ran')

    monkeypatch.setattr(bilevel_reward, 'validation_gradient', no_full_backward)
    one_pass = rewards()
    monkeypatch.setattr(bilevel_reward, 'held_out_logit_gradient', validation_gradient)
    full = rewards()
    assert one_pass.per_image.shape == (4, 16)
    assert one_pass.per_image.std() > 0
    torch.testing.assert_close(one_pass.per_image, full.per_image, rtol=1e-7, atol=1e-10)
    assert one_pass.val_loss == pytest.approx(full.val_loss, rel=1e-12)


def _all_weight_gradients(model, inputs, data, labels):
    """[R, P] each row's own cross-entropy gradient in every trainable weight (torch.func,
    eval mode), in ``trainable_parameters`` order."""
    per = per_sample_gradients(model, inputs, data, labels)
    return torch.cat([per[n].flatten(1) for n in trainable_parameters(model)], 1)


@pytest.mark.parametrize('mirrored', [None, (1, 2, 6)])
def test_match_all_scores_are_the_derivative_of_the_whole_network_cosine(classifier,
                                                                         mirrored):
    """``weight_space_match_scores`` with a classifier's losses (``reward='match_all'``)
    is d cos(sum_c w_c g_c, v) / d w_c with g_c each candidate's gradient in ALL trainable
    weights (torch.func, independent of the finite differences and the one backward pass
    it uses): the logit-layer ``match_scores`` of the same candidates differ from it. With
    ``signs='both'`` (the ``mirrored`` rows scored again as extra rows, their weights split
    and the scores folded as the step does), a mirrored candidate's g_c is the mean of its
    two sign versions' gradients."""
    from dada_mm.search.bilevel import (
        clone_buffers,
        finite_difference_losses,
        global_norm,
        normalised_by,
        per_sample_losses,
    )
    model, images, samples = classifier
    params, cand, mirror, inputs, labels, data, g = _candidate_rows(samples, mirrored)
    weights = {n: p.detach().clone() for n, p in trainable_parameters(model).items()}
    probs = params.clamped_probs(cand.eps)
    policy_w = policy_weights(cand, probs).reshape(-1).double()
    row_weights = policy_w if mirror is None else mirror.split_weights(policy_w)

    flat = _all_weight_gradients(model, inputs, data, labels)
    flat = _mean_of_signs(flat, mirror)
    # v at about 45 degrees to the expected gradient, so that both terms of the score count
    g_bar = (policy_w[:, None] * flat).sum(0)
    noise = torch.randn(g_bar.shape, generator=g, dtype=g_bar.dtype)
    held = g_bar / g_bar.norm() + noise / noise.norm()
    sizes = [p.numel() for p in weights.values()]
    v = {n: t.view_as(weights[n]) for n, t in zip(weights, held.split(sizes))}

    def losses_at(tensors):
        with normalised_by(model, 'running'):
            return per_sample_losses(model, {**tensors, **clone_buffers(model)}, inputs,
                                     data, labels)

    def directional(direction, radius):
        with normalised_by(model, 'running'):
            return finite_difference_losses(model, weights, direction, radius, inputs, data,
                                            labels, central=True)

    # a ReLU network's losses are smooth only piecewise: a small radius (float64) makes the
    # central differences exact to rounding, so what is checked is the formula
    eps = 1e-6
    dots_v = directional(v, eps / float(global_norm(v)))
    got = weight_space_match_scores(losses_at, directional, weights, v, dots_v, eps,
                                    row_weights)
    if mirror is not None:
        got = mirror.fold(got)
    assert model.training  # restored

    w = policy_w.clone().requires_grad_(True)
    cos = F.cosine_similarity((w[:, None] * flat).sum(0)[None], held[None])[0]
    (exact, ) = torch.autograd.grad(cos, w)
    assert got.shape == exact.shape
    assert float(cos) > 0.5
    torch.testing.assert_close(got, exact, rtol=1e-4, atol=1e-7)
    assert exact.abs().max() > 1e-3
    logit_only = match_scores(model, inputs, data, labels, v, cand, probs, mirror=mirror)
    assert (logit_only.double() - exact).abs().max() > 0.1 * exact.abs().max()


def test_the_match_all_step_scores_every_candidate_by_the_whole_network_cosine(classifier):
    """``score_candidates`` with ``reward='match_all'``: rewards [S, K] that are minus the
    whole-network cosine's derivative in each candidate's policy weight (torch.func
    reference at the step's weights, v the full held-out backward), not the logit-layer
    ``'match'`` rewards."""
    from types import SimpleNamespace

    from dada_mm.search import bilevel_reward
    from dada_mm.search.batched_ops import apply_sub_policies
    from dada_mm.search.bilevel import validation_gradient
    from dada_mm.search.learner import LearnerConfig, PolicyLearner
    model, images, samples = classifier
    params = trainable_parameters(model)
    step = SimpleNamespace(images=images, data_samples=samples, device=torch.device('cpu'),
                           lr=0.1, weights={n: p.detach().clone() for n, p in params.items()})
    val = {'inputs': images.flip(0), 'data_samples': samples[::-1]}

    def scored(reward):
        learner = PolicyLearner(LearnerConfig(estimator_options=dict(
            reward=reward, num_images=4)), torch.device('cpu'), seed=3)
        scorer = bilevel_reward.BilevelReward(held_out_norm='running', fd_epsilon=1e-6)
        out, cand = scorer.score_candidates(model, step, val, learner, 'rgb')
        return out, cand, learner

    out, cand, learner = scored('match_all')
    assert out.per_image.shape == (4, 16)
    # the reference: replay the same draws (a fresh learner with the same seed)
    replay = PolicyLearner(LearnerConfig(estimator_options=dict(
        reward='match_all', num_images=4)), torch.device('cpu'), seed=3)
    _, mirror, image, op_indices, b, levels, signs, centers = \
        bilevel_reward.draw_candidates_of(replay, 4)
    assert mirror is None
    inputs = apply_sub_policies(images.float()[image], op_indices, b, levels, signs,
                                centers, channel_order='rgb', warp='pil').double()
    labels = labels_of(samples)[image]
    data = [samples[i] for i in image.tolist()]
    flat = _all_weight_gradients(model, inputs, data, labels)
    v, _ = validation_gradient(model, val, params, norm='running')
    held = torch.cat([v[n].flatten() for n in params])
    w = policy_weights(cand, learner.policy.clamped_probs(cand.eps)).reshape(-1).double()
    w.requires_grad_(True)
    cos = F.cosine_similarity((w[:, None] * flat).sum(0)[None], held[None])[0]
    (exact, ) = torch.autograd.grad(cos, w)
    torch.testing.assert_close(out.per_image.reshape(-1).double(), -exact, rtol=1e-3,
                               atol=1e-6)
    logit, _, _ = scored('match')
    assert not torch.allclose(logit.per_image.double(), out.per_image.double(), rtol=0.1,
                              atol=0)
