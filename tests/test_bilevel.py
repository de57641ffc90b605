"""The finite-difference hyper-gradient pieces against exact autograd values."""
import pytest
import torch
import torch.nn.functional as F

from dada_mm.search.batched_ops import apply_sub_policies
from dada_mm.search.bilevel import (
    directional_derivatives,
    finite_difference_losses,
    labels_of,
    normalised_by,
    per_sample_losses,
    trainable_parameters,
    validation_gradient,
)


def test_validation_gradient_equals_autograd_and_keeps_buffers(tiny_classifier):
    model, images, samples = tiny_classifier
    params = trainable_parameters(model)
    before = {n: b.clone() for n, b in model.named_buffers()}
    v, loss = validation_gradient(model, {'inputs': list(images),
                                          'data_samples': samples}, params)
    for n, b in model.named_buffers():  # BatchNorm statistics untouched
        assert torch.equal(before[n], b), n
    data = model.data_preprocessor({'inputs': images, 'data_samples': samples}, False)
    model_copy = {n: b.clone() for n, b in model.named_buffers()}
    logits = model(data['inputs'], data['data_samples'], mode='tensor')
    ref = F.cross_entropy(logits, labels_of(samples))
    grads = torch.autograd.grad(ref, list(params.values()))
    for (name, _), g in zip(params.items(), grads):
        # same function, two input paths (list vs stacked tensor): float32 casts inside
        # the preprocessor leave ~1e-4 relative noise
        torch.testing.assert_close(v[name], g, rtol=1e-3, atol=1e-3 * float(g.abs().max()))
    assert loss == pytest.approx(float(ref), rel=1e-6)
    for n, b in model.named_buffers():  # restore what the reference pass changed
        b.copy_(model_copy[n])


def test_held_out_norm_running_sees_an_affine_shift_that_batch_statistics_hide(
        tiny_classifier):
    """norm='batch' (train-mode BatchNorm on the held-out batch) is blind to a darkening
    of the whole batch; norm='running' (eval mode) is not, equals an eval-mode autograd
    pass, and leaves the model in train mode with its buffers untouched."""
    model, images, samples = tiny_classifier
    params = trainable_parameters(model)
    before = {n: b.clone() for n, b in model.named_buffers()}
    # the preprocessor's mean is in RGB order, the images are BGR
    mean = model.data_preprocessor.mean.flip(0).view(1, 3, 1, 1)
    dark = mean + 0.3 * (images - mean)  # a pure scale in normalised space
    batch = {'inputs': list(images), 'data_samples': samples}
    batch_dark = {'inputs': list(dark), 'data_samples': samples}
    _, loss = validation_gradient(model, batch, params, norm='batch')
    _, loss_dark = validation_gradient(model, batch_dark, params, norm='batch')
    assert loss_dark == pytest.approx(loss, rel=1e-3)
    v, run = validation_gradient(model, batch, params, norm='running')
    _, run_dark = validation_gradient(model, batch_dark, params, norm='running')
    assert abs(run_dark - run) > 1e-3 * abs(run)
    assert model.training
    for n, b in model.named_buffers():
        assert torch.equal(before[n], b), n
    model.eval()
    try:
        data = model.data_preprocessor({'inputs': images, 'data_samples': samples}, False)
        ref = F.cross_entropy(model(data['inputs'], data['data_samples'], mode='tensor'),
                              labels_of(samples))
        grads = torch.autograd.grad(ref, list(params.values()))
    finally:
        model.train()
    assert run == pytest.approx(float(ref), rel=1e-6)
    for (name, _), g in zip(params.items(), grads):
        torch.testing.assert_close(v[name], g, rtol=1e-3, atol=1e-3 * float(g.abs().max()))
    with pytest.raises(ValueError, match="norm must be 'batch' or 'running'"):
        validation_gradient(model, batch, params, norm='eval')


@pytest.mark.parametrize('central', [True, False])
def test_directional_derivatives_match_exact(tiny_classifier, central):
    """h_i = grad_w f_i . v and d mean(h)/dm against double-backward autograd."""
    model, images, samples = tiny_classifier
    params = trainable_parameters(model)
    weights = {n: p.detach().clone() for n, p in params.items()}
    g = torch.Generator().manual_seed(2)
    v = {n: torch.randn(p.shape, generator=g, dtype=p.dtype) for n, p in weights.items()}
    norm = torch.sqrt(sum((t ** 2).sum() for t in v.values()))
    magnitudes = torch.full((4, 2), 0.7, dtype=torch.float64, requires_grad=True)
    op_idx = torch.tensor([[0, 12], [4, 10], [2, 11], [1, 13]])
    apply = torch.ones(4, 2)
    signs = torch.ones(4, 2)
    centers = torch.full((4, 2, 2), 0.5)

    def augmented():
        return apply_sub_policies(images, op_idx, apply, magnitudes, signs, centers)

    labels = labels_of(samples)
    # small steps (ReLU kinks crossed by large steps dominate the error), but not too small:
    # the batched ops carry the magnitude path in float32
    radius = 1e-4 / float(norm) if central else 1e-5 / float(norm)
    h, dh_dm = directional_derivatives(model, weights, v, radius, augmented(), samples,
                                       labels, magnitudes, central=central)
    # exact: per-image directional derivative and its magnitude gradient
    tensors = {n: w.clone().requires_grad_(True) for n, w in weights.items()}
    buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    f = per_sample_losses(model, {**tensors, **buffers}, augmented(), samples, labels)
    exact_h = []
    for i in range(4):
        gi = torch.autograd.grad(f[i], list(tensors.values()), retain_graph=True)
        exact_h.append(sum((a * v[n]).sum() for a, n in zip(gi, tensors)))
    exact_h = torch.stack(exact_h)
    gw = torch.autograd.grad(f.mean(), list(tensors.values()), create_graph=True)
    s = sum((a * v[n]).sum() for a, n in zip(gw, tensors))
    (exact_dm,) = torch.autograd.grad(s, [magnitudes])
    tol = 2e-2
    torch.testing.assert_close(h, exact_h.detach(), rtol=tol, atol=tol * float(
        exact_h.abs().max()))
    torch.testing.assert_close(dh_dm, exact_dm, rtol=tol,
                               atol=tol * float(exact_dm.abs().max()))
    assert float(exact_dm.abs().max()) > 0  # the magnitudes really receive a signal


@pytest.mark.parametrize('central', [True, False])
def test_forward_only_differences_equal_the_full_ones(tiny_classifier, central):
    """finite_difference_losses (no gradient) takes the same difference as
    directional_derivatives, and leaves the model's buffers alone."""
    model, images, samples = tiny_classifier
    weights = {n: p.detach().clone() for n, p in trainable_parameters(model).items()}
    g = torch.Generator().manual_seed(5)
    v = {n: torch.randn(p.shape, generator=g, dtype=p.dtype) for n, p in weights.items()}
    labels = labels_of(samples)
    magnitudes = torch.zeros(4, 2, requires_grad=True)
    before = {n: b.clone() for n, b in model.named_buffers()}
    h_full, _ = directional_derivatives(model, weights, v, 1e-3, images, samples, labels,
                                        magnitudes, central=central)
    h_fwd = finite_difference_losses(model, weights, v, 1e-3, images, samples, labels,
                                     central=central)
    assert not h_fwd.requires_grad
    torch.testing.assert_close(h_fwd, h_full, rtol=1e-5, atol=1e-6)
    assert float(h_fwd.abs().max()) > 0
    for n, b in model.named_buffers():
        assert torch.equal(b, before[n]), n


@pytest.mark.parametrize('start_training', [True, False])
def test_normalised_by_sets_the_mode_inside_and_restores_it_after_an_error(start_training):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    model.train(start_training)
    with normalised_by(model, 'running'):
        assert not model.training and not model[1].training
    assert model.training is start_training
    with normalised_by(model, 'batch'):  # 'batch' leaves the model's own mode
        assert model.training is start_training
    with pytest.raises(RuntimeError, match='inside'):
        with normalised_by(model, 'running'):
            raise RuntimeError('inside')
    assert model.training is start_training and model[1].training is start_training
