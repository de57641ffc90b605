"""The one-pass bi-level (DARTS-style) hyper-gradient, with functional network weights.

Notation: w_t are the weights before the training step, d = (alpha, p, m) the policy and
f_i(w, d) the loss of training image i augmented with its policy draw. The runner's own
training step *is* the unrolled step: w_{t+1} = w_t - xi * (grad_w L_tr(w_t, d) + ...), so
its training-split gradient is computed once and reused (never recomputed), and whatever
the config's optimiser does (momentum, weight decay, clipping, AMP) is what is unrolled.
Then, DARTS' chain rule with v = grad_w L_val(w_{t+1}) gives

    dL_val/dd ~= -xi * d/dd [grad_w L_tr(w_t, d) . v],

and grad_w f_i . v is approximated by a central finite difference
``h_i = (f_i(w_t + R v) - f_i(w_t - R v)) / 2R`` with R = eps / ||v|| (second order) or a
one-sided difference (first order). For alpha and p, h_i is the per-sample reward of a
score-function estimator (RELAX by default); for m the difference is taken of the pathwise
(straight-through or exact) magnitude gradients.

All extra passes evaluate the *same* module through ``torch.func.functional_call`` with
dicts of weights and with *copies* of the buffers, so the network is never copied and
BatchNorm running statistics are only updated by the real training step.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

__all__ = ['unwrap_model', 'trainable_parameters', 'clone_buffers', 'normalised_by',
           'classification_logits',
           'labels_of', 'per_sample_losses', 'validation_gradient', 'perturbed_weights',
           'global_norm', 'magnitude_grads', 'input_gradient_and_losses',
           'directional_derivatives', 'finite_difference_losses']


def unwrap_model(model: nn.Module) -> nn.Module:
    """The bare model under a DDP/MMEngine wrapper (extra passes must not all-reduce)."""
    from mmengine.model import is_model_wrapper
    return model.module if is_model_wrapper(model) else model


def trainable_parameters(model: nn.Module) -> Dict[str, Tensor]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def clone_buffers(model: nn.Module) -> Dict[str, Tensor]:
    """Fresh copies of all buffers, so that train-mode BatchNorm in extra passes updates
    the copies, not the model's running statistics."""
    return {n: b.detach().clone() for n, b in model.named_buffers()}


@contextmanager
def normalised_by(model: nn.Module, norm: str) -> Iterator[nn.Module]:
    """BatchNorm for the passes inside the block: ``'running'`` puts ``model`` in eval mode
    (running statistics, so one image's output does not depend on the others), ``'batch'``
    leaves its mode as it is; the mode is restored on leaving, also after an error."""
    was_training = model.training
    if norm == 'running':
        model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _at_least_float32(t: Tensor) -> Tensor:
    """Losses of half-precision (AMP) logits are taken in float32; float64 stays."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def labels_of(data_samples: Sequence) -> Tensor:
    """Hard labels [B] of mmpretrain ``DataSample``s."""
    labels = []
    for i, ds in enumerate(data_samples):
        label = getattr(ds, 'gt_label', None)
        if label is None:
            raise ValueError(f'data_samples[{i}] has no gt_label; the DADA search needs '
                             'hard class labels (no Mixup/CutMix/soft labels)')
        labels.append(torch.as_tensor(label).reshape(-1)[:1])
    return torch.cat(labels).long()


def classification_logits(model: nn.Module, tensors: Optional[Dict[str, Tensor]],
                          inputs: Tensor, data_samples: Sequence) -> Tensor:
    """Logits of ``model`` (an mmpretrain classifier) on 0..255 float ``inputs`` [B,C,H,W].

    ``tensors`` replaces parameters/buffers by name for this call only (None: as is). The
    model's own data preprocessor normalises the inputs, differentiably.
    """
    data = model.data_preprocessor({'inputs': inputs, 'data_samples': list(data_samples)},
                                   False)
    kwargs = dict(inputs=data['inputs'], data_samples=data['data_samples'], mode='tensor')
    if tensors is None:
        out = model(**kwargs)
    else:
        out = functional_call(model, tensors, args=(), kwargs=kwargs, strict=False)
    if isinstance(out, (tuple, list)):
        out = out[-1]
    return out


def per_sample_losses(model: nn.Module, tensors: Optional[Dict[str, Tensor]], inputs: Tensor,
                      data_samples: Sequence, labels: Tensor) -> Tensor:
    """Cross-entropy of every image [B] (the search objective's per-sample terms)."""
    logits = _at_least_float32(classification_logits(model, tensors, inputs, data_samples))
    return F.cross_entropy(logits, labels.to(logits.device), reduction='none')


def validation_gradient(model: nn.Module, val_batch: Dict,
                        params: Dict[str, Tensor], norm: str = 'batch'
                        ) -> Tuple[Dict[str, Tensor], float]:
    """v = grad_w L_val at the model's current weights, and L_val; buffers untouched.

    ``val_batch`` is a collated batch of the held-out loader (not augmented). ``norm``:
    ``'batch'`` evaluates it in train mode (BatchNorm on the held-out batch's own
    statistics, as the paper's code), ``'running'`` in eval mode (the running statistics
    that the augmented training batches built, as the network is tested). Batch
    statistics normalise away any shift that is affine in the intensities and shared by
    the whole held-out batch (darker, lower contrast), so only ``'running'`` lets the
    held-out loss see such a shift.
    """
    if norm not in ('batch', 'running'):
        raise ValueError(f"norm must be 'batch' or 'running', got {norm!r}")
    with normalised_by(model, norm):
        logits = _at_least_float32(classification_logits(
            model, clone_buffers(model), val_batch['inputs'], val_batch['data_samples']))
    labels = labels_of(val_batch['data_samples']).to(logits.device)
    loss = F.cross_entropy(logits, labels)
    names = list(params)
    grads = torch.autograd.grad(loss, [params[n] for n in names], allow_unused=True)
    v = {n: (torch.zeros_like(params[n]) if g is None else g.detach())
         for n, g in zip(names, grads)}
    return v, float(loss.detach())


def global_norm(tensors: Dict[str, Tensor]) -> Tensor:
    return torch.sqrt(sum((t.float() ** 2).sum() for t in tensors.values()))


def perturbed_weights(base: Dict[str, Tensor], direction: Dict[str, Tensor],
                      scale: float) -> Dict[str, Tensor]:
    """``base + scale * direction`` for every tensor in ``direction``."""
    return {n: base[n] + scale * direction[n].to(base[n].dtype) for n in direction}


def magnitude_grads(inputs: Tensor, magnitudes: Tensor, input_grad: Tensor) -> Tensor:
    """Carry ``input_grad`` (d objective / d inputs) back through the augmentation graph
    from ``inputs`` to ``magnitudes``; zeros where the graph does not reach them."""
    if not inputs.requires_grad:
        return torch.zeros_like(magnitudes)
    (g,) = torch.autograd.grad(inputs, [magnitudes], grad_outputs=input_grad,
                               allow_unused=True)
    return torch.zeros_like(magnitudes) if g is None else g


def input_gradient_and_losses(model: nn.Module, tensors: Dict[str, Tensor], inputs: Tensor,
                              data_samples: Sequence, labels: Tensor
                              ) -> Tuple[Tensor, Tensor]:
    """Per-image losses at ``tensors`` and d mean(loss) / d inputs (an input-only backward:
    the weights in ``tensors`` carry no graph)."""
    x = inputs.detach().requires_grad_(True)
    f = per_sample_losses(model, tensors, x, data_samples, labels)
    (gx,) = torch.autograd.grad(f.mean(), [x])
    return f.detach(), gx


def _difference_points(weights: Dict[str, Tensor], direction: Dict[str, Tensor],
                       radius: float, central: bool) -> Tuple[List[Dict[str, Tensor]], float]:
    """The two weight sets a finite difference evaluates (``w + R v`` and ``w - R v``, or
    ``w`` itself when one-sided) and the step it divides by."""
    plus = perturbed_weights(weights, direction, radius)
    if central:
        return [plus, perturbed_weights(weights, direction, -radius)], 2 * radius
    return [plus, weights], radius


def finite_difference_losses(model: nn.Module, weights: Dict[str, Tensor],
                             direction: Dict[str, Tensor], radius: float, inputs: Tensor,
                             data_samples: Sequence, labels: Tensor,
                             central: bool = True) -> Tensor:
    """``h_i ~ grad_w f_i(weights) . direction`` from forward passes only (no gradient), the
    same difference :func:`directional_derivatives` takes; e.g. for a baseline."""
    points, step = _difference_points(weights, direction, radius, central)
    with torch.no_grad():
        losses = [per_sample_losses(model, {**w, **clone_buffers(model)}, inputs,
                                    data_samples, labels) for w in points]
    return (losses[0] - losses[1]) / step


def directional_derivatives(model: nn.Module, weights: Dict[str, Tensor],
                            direction: Dict[str, Tensor], radius: float, inputs: Tensor,
                            data_samples: Sequence, labels: Tensor, magnitudes: Tensor,
                            central: bool = True,
                            base: Optional[Tuple[Tensor, Tensor]] = None
                            ) -> Tuple[Tensor, Tensor]:
    """Finite-difference ``h_i ~ grad_w f_i(weights) . direction`` and ``d mean(h) / dm``.

    ``inputs`` are the augmented images, carrying the graph to ``magnitudes``. Central
    differences at ``weights +/- radius * direction`` (error O(radius^2)), or one-sided
    ones against ``weights`` itself, whose per-image losses and d mean(loss) / d inputs
    may be passed as ``base`` when the training step already computed them. Each network
    pass differentiates only w.r.t. a detached copy of the images; the difference of those
    image gradients goes back through the augmentation once. BatchNorm runs in train mode
    on fresh buffer copies.
    """
    points, step = _difference_points(weights, direction, radius, central)
    if base is not None and not central:
        points = points[:1]  # the base point's values are given
    losses, grads = [], []
    for w in points:
        f, gx = input_gradient_and_losses(model, {**w, **clone_buffers(model)}, inputs,
                                          data_samples, labels)
        losses.append(f)
        grads.append(gx)
    if base is not None and not central:
        losses.append(base[0].to(losses[0].dtype))
        grads.append(base[1].to(grads[0].dtype))
    dh_dx = (grads[0] - grads[1]) / step
    return (losses[0] - losses[1]) / step, magnitude_grads(inputs, magnitudes,
                                                           dh_dx.to(inputs.dtype))


def class_gradients(model: nn.Module, val_batch: Dict, params: Dict[str, Tensor],
                    norm: str = 'batch') -> Tuple[Tensor, Tensor]:
    """The held-out gradient of each class present in ``val_batch``: the gradient of the
    mean loss of that class's held-out images, flattened over ``params``.

    Returns ``(classes [C] long, gradients [C, P])``. BatchNorm as in
    :func:`validation_gradient` (``norm``); buffers untouched.
    """
    with normalised_by(model, norm):
        logits = _at_least_float32(classification_logits(
            model, clone_buffers(model), val_batch['inputs'], val_batch['data_samples']))
    labels = labels_of(val_batch['data_samples']).to(logits.device)
    losses = F.cross_entropy(logits, labels, reduction='none')
    classes = torch.unique(labels)
    names = list(params)
    rows = []
    for k, c in enumerate(classes.tolist()):
        loss = losses[labels == c].mean()
        grads = torch.autograd.grad(loss, [params[n] for n in names], allow_unused=True,
                                    retain_graph=k + 1 < len(classes))
        rows.append(torch.cat([(torch.zeros_like(params[n]) if g is None else g).reshape(-1)
                               for n, g in zip(names, grads)]).detach())
    return classes, torch.stack(rows)


def per_sample_gradient_products(model: nn.Module, inputs: Tensor, data_samples: Sequence,
                                 labels: Tensor, directions: Tensor, rows: Tensor,
                                 chunk: int = 32) -> Tuple[Tensor, Tensor]:
    """For every image i: ``<g_i, directions[rows[i]]>`` and ``|g_i|``, with ``g_i`` the
    gradient of image i's own loss in the trainable parameters (flattened as
    :func:`class_gradients` flattens them), from ``torch.func``'s per-sample gradients in
    eval mode (BatchNorm on its running statistics, so that one image's gradient does not
    depend on the others), ``chunk`` images at a time.
    """
    from torch.func import grad, vmap
    params = {n: p.detach() for n, p in trainable_parameters(model).items()}
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    with normalised_by(model, 'running'):
        with torch.no_grad():
            x = model.data_preprocessor({'inputs': inputs, 'data_samples': list(data_samples)},
                                        False)['inputs']

        def loss_one(p, xi, yi):
            out = functional_call(model, {**p, **buffers}, args=(),
                                  kwargs=dict(inputs=xi[None], mode='tensor'), strict=False)
            if isinstance(out, (tuple, list)):
                out = out[-1]
            return F.cross_entropy(_at_least_float32(out), yi[None])

        per_sample = vmap(grad(loss_one), in_dims=(None, 0, 0))
        dots, norms = [], []
        for start in range(0, x.shape[0], chunk):
            g = per_sample(params, x[start:start + chunk], labels[start:start + chunk])
            flat = torch.cat([g[n].reshape(g[n].shape[0], -1) for n in params], dim=1)
            dots.append((flat * directions[rows[start:start + chunk]]).sum(1))
            norms.append(flat.norm(dim=1))
    return torch.cat(dots), torch.cat(norms)
