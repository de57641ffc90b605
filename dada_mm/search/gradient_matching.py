"""The ``'match'`` candidate reward: the policy's expected training gradient matched to the
held-out gradient, on the classifier's logit layer.

Objective (Deep AutoAugment's gradient matching, on the last layer):
``J(policy) = cos(g_bar, v)``, with ``g_bar`` the expected gradient of a training image's
loss under the policy and ``v`` the held-out batch's gradient, both in the weights of the
layer that outputs the logits. Its gradient in the policy is linear in each candidate's own
gradient: ``dJ = <d g_bar, u>`` with ``u = (v / |v| - J g_bar / |g_bar|) / |g_bar|``
(:func:`matching_direction`), so each candidate is handed to the estimator with the loss
``-<g_c, u>`` (lower is better, as every candidate reward), and the estimator's
differences between candidates of one image give ``-dJ``: the policy step climbs J.
``g_bar`` is estimated on the S scored images' candidates (:func:`policy_weights`), which
leaves a bias of order 1 / S in ``u`` (the images vary, and so does the estimate).

Why the logit layer: a cross-entropy image's gradient there is ``e h^T`` (``e`` = softmax -
one-hot, ``h`` the layer's input), so every candidate needs one forward pass and no
backward (:func:`logit_layer_parts`). Why a policy-level cosine rather than one per
candidate: every candidate is scored against the same ``u``, so it is rewarded for the
change its share makes to the policy's expected gradient (which way and how far), not for
its own gradient's direction alone.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..utils.dist import all_ranks
from .bilevel import (
    _at_least_float32,
    classification_logits,
    clone_buffers,
    global_norm,
    labels_of,
    normalised_by,
)
from .candidates import PATTERNS, CandidateSet, SignMirror
from .learner import SkipPolicyUpdate

__all__ = ['MATCH_HEADS', 'logit_layer', 'check_logit_layer', 'match_unusable',
           'resolve_reward', 'logit_layer_parts', 'held_out_logit_gradient', 'held_out_matrix',
           'matching_direction', 'policy_weights', 'row_policy_weights', 'match_scores',
           'weight_space_match_scores']

#: mmpretrain heads whose last plain ``nn.Linear`` outputs the logits by construction:
#: ``reward='auto'`` picks ``'match'`` for these alone (another head, such as DeiT's
#: distillation head, a subclass of VisionTransformerClsHead, averages two layers)
MATCH_HEADS = ('LinearClsHead', 'StackedLinearClsHead', 'VisionTransformerClsHead')


def logit_layer(model: nn.Module) -> Tuple[str, nn.Linear]:
    """The name and module of the head's last plain ``nn.Linear``: the layer that outputs
    the logits of an mmpretrain classifier such as ``LinearClsHead`` (``head.fc``) or
    ``StackedLinearClsHead``. :func:`logit_layer_parts` checks that its output is the
    logits (a head that averages two layers or rescales one is refused there)."""
    head = getattr(model, 'head', None)
    found = ([] if head is None else
             [(n, m) for n, m in head.named_modules() if type(m) is nn.Linear])
    if not found:
        raise ValueError("reward='match' needs a classifier head that ends in an "
                         f'nn.Linear (the logit layer), got head {type(head).__name__}')
    name, module = found[-1]
    return ('head.' + name) if name else 'head', module


def _loss_problem(head: nn.Module) -> Optional[str]:
    """Why the head's loss is not softmax cross-entropy on hard labels (None: it is):
    the closed-form gradient ``outer(softmax - one_hot, h)`` holds for that loss alone."""
    loss = getattr(head, 'loss_module', None)
    if loss is None:
        return None  # a head without mmpretrain's loss module: its logits go to F.cross_entropy
    from mmpretrain.models.losses import CrossEntropyLoss
    if type(loss) is not CrossEntropyLoss:
        return (f'its loss is {type(loss).__name__}, not CrossEntropyLoss (the reward '
                'takes the softmax cross-entropy gradient in closed form)')
    if loss.use_sigmoid:
        return 'its CrossEntropyLoss uses a sigmoid (the reward needs the softmax form)'
    if loss.class_weight is not None:
        return 'its CrossEntropyLoss weights the classes (the reward weighs them equally)'
    return None


def match_unusable(model: nn.Module) -> Optional[str]:
    """Why ``reward='match'`` cannot score ``model`` (None: it can): no plain ``nn.Linear``
    in its head, that layer frozen (the held-out gradient then has no part in it), or a
    loss other than softmax cross-entropy."""
    try:
        name, linear = logit_layer(model)
    except ValueError as err:
        return str(err).replace("reward='match' needs", 'it needs')
    frozen = [n for n, p in linear.named_parameters() if not p.requires_grad]
    if frozen:
        return f'its logit layer {name} is frozen ({frozen} do not require grad)'
    return _loss_problem(model.head)


def check_logit_layer(model: nn.Module) -> None:
    """Refuse, before the search starts, a model the ``'match'`` reward cannot score
    (:func:`match_unusable`), naming why."""
    problem = match_unusable(model)
    if problem is not None:
        raise ValueError(f"reward='match' cannot score {type(model).__name__}: {problem}; "
                         "use reward='dot'")


def resolve_reward(reward: str, model: nn.Module, detection: bool,
                   norm: str) -> Tuple[str, str]:
    """The candidate reward ``reward='auto'`` stands for, and why: ``'match'`` for a
    classifier whose head is one of :data:`MATCH_HEADS` and that :func:`match_unusable`
    accepts, with ``norm='running'``; ``'dot'`` otherwise (detectors, other heads, BatchNorm
    in train mode). Any other ``reward`` is returned as given."""
    if reward != 'auto':
        return reward, 'as configured'
    head = getattr(model, 'head', None)
    if detection:
        why = 'a detector'
    elif norm != 'running':
        why = f"norm={norm!r} (match scores each candidate with running statistics)"
    elif head is None or type(head).__name__ not in MATCH_HEADS:
        why = (f'head {type(head).__name__} is not one of {list(MATCH_HEADS)}, whose '
               'last nn.Linear outputs the logits')
    else:
        why = match_unusable(model)
        if why is None:
            name = logit_layer(model)[0]
            return 'match', f'{type(head).__name__}, its trainable logit layer {name}'
    return 'dot', why


def _logit_layer_forward(model: nn.Module, inputs: Tensor, data_samples: Sequence,
                         norm: str = 'running') -> Tuple[nn.Linear, Tensor, Tensor]:
    """``(linear, h [N, D], z [N, C])`` from one no-grad forward pass: the logit layer, its
    input and its output, checked to be the model's logits (``ValueError`` otherwise).
    ``norm='running'`` runs in eval mode; ``'batch'`` in the model's own mode on copies of
    the buffers, so train-mode BatchNorm leaves the running statistics untouched."""
    name, linear = logit_layer(model)
    captured = {}

    def keep(module, args, output):
        captured['h'], captured['z'] = args[0].detach(), output.detach()

    handle = linear.register_forward_hook(keep)
    try:
        with normalised_by(model, norm), torch.no_grad():
            tensors = clone_buffers(model) if norm == 'batch' else None
            logits = classification_logits(model, tensors, inputs, data_samples)
    finally:
        handle.remove()
    z = captured.get('z')
    if z is None or z.shape != logits.shape or not torch.allclose(
            z.float(), logits.float(), rtol=1e-4, atol=1e-5):
        raise ValueError(f"reward='match' needs the head's last nn.Linear ({name}) to "
                         f'output the logits; {type(model.head).__name__} computes them '
                         "otherwise (use reward='dot')")
    return linear, captured['h'].flatten(1), z


def logit_layer_parts(model: nn.Module, inputs: Tensor, data_samples: Sequence,
                      labels: Tensor) -> Tuple[Tensor, Tensor]:
    """``(e [N, C], h [N, D])`` at the current weights in eval mode (running BatchNorm
    statistics, so an image's gradient does not depend on the others): image i's
    cross-entropy gradient in the logit layer's weight is ``outer(e_i, h_i)``; with a bias,
    ``h`` ends in a column of ones (the bias gradient is ``e_i``). Raises ``ValueError``
    when that layer's output is not the model's logits."""
    linear, h, z = _logit_layer_forward(model, inputs, data_samples)
    h, z = h.float(), z.float()
    e = z.softmax(1) - F.one_hot(labels.to(z.device), z.shape[1]).float()
    if linear.bias is not None:
        h = torch.cat([h, h.new_ones(h.shape[0], 1)], 1)
    return e, h


def held_out_logit_gradient(model: nn.Module, val_batch: Dict, params: Dict[str, Tensor],
                            norm: str = 'running') -> Tuple[Dict[str, Tensor], float]:
    """The held-out gradient in the logit layer alone, and L_val, from one forward pass.

    ``'match'`` reads ``v`` in the logit layer only, where the mean cross-entropy's
    gradient is ``sum_j outer(e_j, h_j) / B`` in closed form (``logit_layer_parts``), so
    the backward pass through the whole network that ``bilevel.validation_gradient`` makes
    is not needed. Same signature and the same values (for that layer) as
    ``validation_gradient``: ``norm`` ``'running'`` evaluates the held-out batch in eval
    mode, ``'batch'`` in train mode on copies of the buffers (the running statistics stay
    untouched); either way the layer's input ``h`` does not depend on its own weights.
    """
    if norm not in ('batch', 'running'):
        raise ValueError(f"norm must be 'batch' or 'running', got {norm!r}")
    name, linear = logit_layer(model)
    missing = [f'{name}.{p}' for p, _ in linear.named_parameters()
               if f'{name}.{p}' not in params]
    if missing:
        raise ValueError(f"reward='match' needs the logit layer's parameters {missing} among "
                         f'the trainable parameters')
    _, h, logits = _logit_layer_forward(model, val_batch['inputs'],
                                        val_batch['data_samples'], norm)
    logits = _at_least_float32(logits)
    labels = labels_of(val_batch['data_samples']).to(logits.device)
    loss = F.cross_entropy(logits, labels)
    e = (logits.softmax(1) - F.one_hot(labels, logits.shape[1]).to(logits.dtype))
    e = e / logits.shape[0]                                      # the batch mean's factor
    h = h.to(e.dtype)
    v = {f'{name}.weight': (e.T @ h).reshape(linear.weight.shape).to(linear.weight.dtype)}
    if linear.bias is not None:
        v[f'{name}.bias'] = e.sum(0).to(linear.bias.dtype)
    return v, float(loss)


def held_out_matrix(model: nn.Module, v: Dict[str, Tensor]) -> Tensor:
    """The held-out gradient ``v`` restricted to the logit layer, as a [C, D] matrix laid
    out as :func:`logit_layer_parts` (weight columns, then the bias)."""
    name, linear = logit_layer(model)
    parts = [v[f'{name}.weight'].reshape(linear.out_features, -1)]
    if linear.bias is not None:
        parts.append(v[f'{name}.bias'].reshape(-1, 1))
    return torch.cat(parts, 1).float()


def matching_direction(mean_gradient: Tensor, held_out: Tensor) -> Tensor:
    """``d cos(g, v) / d g`` at ``g = mean_gradient``: ``(v/|v| - cos g/|g|) / |g|``."""
    g_norm = mean_gradient.norm().clamp(min=1e-30)
    v_norm = held_out.norm().clamp(min=1e-30)
    cos = (mean_gradient * held_out).sum() / (g_norm * v_norm)
    return (held_out / v_norm - cos * mean_gradient / g_norm) / g_norm


def policy_weights(cand: CandidateSet, probs: Tensor) -> Tensor:
    """[S, K] weights that turn the candidates' gradients into an unbiased estimate of the
    policy's expected gradient over the S images: each draw's apply patterns (and the clean
    column for b = (0, 0)) weighted by their probability under the drawn sub-policy's p,
    averaged over the M draws and the S images; the magnitude columns weigh 0."""
    s, m = cand.num_images, cand.num_draws
    p = probs.detach()[cand.draws].to(torch.float32)                        # [S, M, 2]
    pat = torch.tensor(((0.0, 0.0),) + PATTERNS, device=p.device)           # [4, 2]
    pb = (pat * p[:, :, None] + (1 - pat) * (1 - p[:, :, None])).prod(-1)  # [S, M, 4]
    w = p.new_zeros(s, cand.num_candidates)
    w[:, 0] = pb[:, :, 0].sum(1)
    w[:, 1:1 + 3 * m] = pb[:, :, 1:].reshape(s, 3 * m)
    return w / (s * m)


def row_policy_weights(cand: CandidateSet, probs: Tensor,
                       mirror: Optional[SignMirror] = None) -> Tensor:
    """:func:`policy_weights` flattened to the candidate rows (``cand.flat()`` order), and
    with ``mirror`` extended to its extra rows, a mirrored row's weight shared by its two
    signs: the weights of the policy's expected gradient over the rows that are scored."""
    w = policy_weights(cand, probs).reshape(-1)
    return w if mirror is None else mirror.split_weights(w)


def match_scores(model: nn.Module, inputs: Tensor, data_samples: Sequence, labels: Tensor,
                 v: Dict[str, Tensor], cand: CandidateSet, probs: Tensor,
                 mirror: Optional[SignMirror] = None) -> Tensor:
    """[S * K] scores ``<g_c, u>`` (higher is better; the reward handed to the estimator is
    their negative) of the candidate images ``inputs``, in ``cand.flat()`` order, with ``v``
    the held-out gradient (all trainable weights) and ``probs`` the apply probabilities the
    candidates were drawn with. With ``mirror``, ``inputs`` are the extended rows
    (:meth:`SignMirror.extend`) and a mirrored candidate's gradient is the mean of its two
    signs', in the policy's expected gradient and in its score."""
    e, h = logit_layer_parts(model, inputs, data_samples, labels)
    w = row_policy_weights(cand, probs, mirror)
    mean_gradient = torch.einsum('n,nc,nd->cd', w, e, h)
    u = matching_direction(mean_gradient, held_out_matrix(model, v))
    scores = torch.einsum('nc,cd,nd->n', e, u, h)
    return scores if mirror is None else mirror.fold(scores)


def weight_space_match_scores(losses_at: Callable[[Dict[str, Tensor]], Tensor],
                              directional: Callable[[Dict[str, Tensor], float], Tensor],
                              weights: Dict[str, Tensor], v: Dict[str, Tensor],
                              dots_v: Tensor, fd_epsilon: float,
                              row_weights: Tensor) -> Tensor:
    """[R] ``<g_c, u>`` of R candidate rows for the ``'match'`` objective ``J = cos(g_bar,
    v)`` taken in all the weights of ``v``: ``g_bar = sum_c row_weights[c] g_c`` is the
    policy's expected training gradient and ``u = dJ / d g_bar``
    (:func:`matching_direction`). A detector's ``'match'`` and a classifier's
    ``'match_all'``.

    No per-candidate gradient is formed: ``g_bar`` comes from one backward pass of the
    weighted losses ``losses_at(tensors)`` (the rows' losses at ``tensors``, a copy of
    ``weights`` that requires grad), ``dots_v`` (``g_c . v``) is given, and ``g_c . g_bar``
    comes from ``directional(g_bar, radius)``, the rows' central differences along
    ``g_bar`` at radius ``fd_epsilon / |g_bar|``. Then
    ``<g_c, u> = g_c.v / (|v| |g_bar|) - J g_c.g_bar / |g_bar|^2``. Raises
    :class:`SkipPolicyUpdate` when ``g_bar`` is zero or not finite on some rank.
    """
    names = list(v)
    tensors = {n: weights[n].detach().clone().requires_grad_(True) for n in names}
    losses = losses_at(tensors)
    grads = torch.autograd.grad((row_weights.to(losses) * losses).sum(),
                                [tensors[n] for n in names], allow_unused=True)
    g_bar = {n: torch.zeros_like(tensors[n]) if g is None else g.detach()
             for n, g in zip(names, grads)}
    g_norm = float(global_norm(g_bar))
    v_norm = float(global_norm(v))
    # every rank must take the same branch (the policy step that follows is collective)
    if not all_ranks(math.isfinite(g_norm) and g_norm > 0, dots_v.device):
        raise SkipPolicyUpdate(f'expected candidate gradient norm is {g_norm} (on this or '
                               'another rank)')
    dots_g = directional(g_bar, fd_epsilon / g_norm)
    cos = float((row_weights.to(dots_v) * dots_v).sum()) / (g_norm * v_norm)
    return dots_v / (v_norm * g_norm) - cos * dots_g / g_norm ** 2
