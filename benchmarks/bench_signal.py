"""Reward signal per op: which reward definition ranks the op that undoes a shift first?

For a planted shift (the held-out images corrupted, the training images clean, one of the
15 DADA ops reproducing the corruption on a training image) and a network at fixed
training states, every op is applied to the SAME training images and scored against the
held-out gradient of the shifted images. Each op's score is compared with the clean
image's score of the same image (a paired difference), so that which image it is cancels.

Data and network: scikit-learn's handwritten digits at 32x32 (``dada_mm/datasets/digits.py``),
split per class into training (``--train-per-class``), held-out (``--val-per-class``) and
test images; the CIFAR ResNet-18 of ``bench_policy.py`` at base width ``--width``, trained
with SGD on the clean training images (no augmentation) to the states ``--epochs`` (the
weights after that many epochs; their clean test accuracy is reported).

Shifts (``SHIFTS``): the held-out (and test) images are the op itself applied at the
shift's level, so the op at that level maps a training image into the shifted domain.
Candidates: the clean image and the 15 ops, each at ``--level`` (default 0.7) except the
shift's undoing op, which is applied at the shift's own level; geometric ops with the
positive sign, Cutout centred.

Scores (higher = a step on this candidate lowers the held-out loss more), with g_i the
gradient of candidate image i's cross-entropy and g_v that of the held-out loss:

* ``dot``: <g_i, g_v> (today's reward: ``bilevel_reward.py`` estimates it, times -xi, by a
  central finite difference of l_i along g_v; the script checks the two agree, ``fd_check``);
* ``cos``: cos(g_i, g_v) (Deep AutoAugment's normalised form);
* ``dot_class`` / ``cos_class``: the same with g_v from the held-out images of image i's
  class only.

BatchNorm modes (how candidate images are normalised; g_i exact, by ``torch.func``):

* ``train``: train-mode BN on a batch (``--bn-batch`` images) that carries only that
  candidate, gradient through the batch statistics included (what the search does today);
  g_v in train mode on the held-out batch (``held_out_norm='batch'``, the default);
* ``train_valrun``: the same candidates, g_v with running statistics
  (``held_out_norm='running'``);
* ``eval``: running statistics for candidates and held-out images (frozen BN, as DeepAA);
* ``clean``: candidates normalised by the (frozen) statistics of the clean batch of the
  scored images, g_v with running statistics;
* ``mixed``: candidates normalised by the (frozen) statistics of a mixed batch (each scored
  image under one of the 16 candidates at the default level, a fixed random assignment), as
  a real augmented batch has; g_v with running statistics.

Per (shift, state, BN mode, reward): every op's paired difference to the clean image over
the ``--images`` scored images: mean, standard error and t; the undoing op's rank among the
15 ops by t (1 = first). Prints one table per (reward, BN mode) and, last, ``key=value``
pairs: for each reward and BN mode how many (shift, state) pairs rank the undoing op first.
``--out`` writes everything (with the commit, the command, the options and package
versions) as JSON.
"""
import argparse
import copy
import json
import math
import os.path as osp
import platform
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.func import functional_call, grad, vjp, vmap  # noqa: E402

#: shift name -> (undoing op, level at which the op reproduces the shift). Levels map to
#: values as in ``search_space/ops.py``: Brightness / Contrast 1/9 -> factor 0.3; Rotate
#: 5/6 -> +20 degrees; ShearX 5/6 -> shear 0.2; TranslateY 2/3 -> 0.15 of the height
#: (4.8 px); Solarize 1/2 -> threshold 128; Invert has no level.
SHIFTS: Dict[str, Tuple[str, float]] = {
    'invert': ('Invert', 0.7),
    'dark': ('Brightness', 1.0 / 9.0),
    'contrast': ('Contrast', 1.0 / 9.0),
    'solarize': ('Solarize', 0.5),
    'rotate': ('Rotate', 5.0 / 6.0),
    'shear': ('ShearX', 5.0 / 6.0),
    'translate': ('TranslateY', 2.0 / 3.0),
}
REWARDS = ('dot', 'cos', 'dot_class', 'cos_class')
BN_MODES = ('train', 'train_valrun', 'eval', 'clean', 'mixed')
MEAN, STD = 127.5, 64.0  # bench_policy.py's data preprocessor


# ------------------------------------------------------------------------------ data
def digits_tensors(size: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits as float [N, 3, size, size] (0..255 values) and labels [N]."""
    from dada_mm.datasets.digits import _digit_images
    images, labels = _digit_images(size)
    x = torch.from_numpy(np.stack([np.asarray(im) for im in images])).permute(0, 3, 1, 2)
    return x.float().contiguous(), torch.from_numpy(labels).long()


def split(labels: torch.Tensor, train_per_class: int, val_per_class: int,
          seed: int) -> Dict[str, torch.Tensor]:
    """Stratified index sets: train / held-out / test (the rest)."""
    rng = np.random.default_rng(seed)
    out = {'train': [], 'val': [], 'test': []}
    for c in range(10):
        idx = np.flatnonzero(labels.numpy() == c)
        rng.shuffle(idx)
        out['train'] += list(idx[:train_per_class])
        out['val'] += list(idx[train_per_class:train_per_class + val_per_class])
        out['test'] += list(idx[train_per_class + val_per_class:])
    return {k: torch.as_tensor(sorted(v)) for k, v in out.items()}


def apply_candidate(images: torch.Tensor, cand: Tuple[str, float],
                    sign_seed: Optional[int] = None) -> torch.Tensor:
    """One op at one level on every image (Cutout centred); 'clean' is the identity.
    Signed ops take the positive sign, or with ``sign_seed`` a sign of +1 or -1 per image
    drawn from that seed (as a policy draws it). Images are RGB (0..255 floats)."""
    from dada_mm.search.batched_ops import apply_op_batch
    op, level = cand
    if op == 'clean':
        return images.clone()
    b = images.shape[0]
    signs = torch.ones(b)
    if sign_seed is not None:
        gen = torch.Generator().manual_seed(sign_seed)
        signs = torch.randint(0, 2, (b, ), generator=gen).float() * 2 - 1
    return apply_op_batch(images, op, torch.full((b, ), float(level)),
                          signs=signs, channel_order='rgb')


def sign_seeds(args) -> Dict[str, Optional[int]]:
    """The sign seeds of the held-out and test shifts and of the candidates: None (the
    positive sign everywhere) unless ``--random-signs``."""
    if not args.random_signs:
        return dict(val=None, test=None, candidates=None)
    return dict(val=args.seed + 2, test=args.seed + 3, candidates=args.seed + 4)


# ------------------------------------------------------------------------------ model
def build_model(width: int, seed: int) -> torch.nn.Module:
    from bench_policy import model_cfg
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import dada_mm  # noqa: F401
    init_default_scope('mmpretrain')
    torch.manual_seed(seed)
    return MODELS.build(model_cfg(width))


def normalise(x: torch.Tensor) -> torch.Tensor:
    """bench_policy's ClsDataPreprocessor (to_rgb on an RGB tensor swaps it: BGR order)."""
    return (x.flip(1) - MEAN) / STD


def logits_of(model, tensors: Dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    return functional_call(model, tensors, (normalise(x), ), dict(mode='tensor'))


def bn_modules(model) -> List[torch.nn.Module]:
    return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


class BatchStats:
    """Train-mode BN on the batch's own statistics, without updating running statistics
    (so that the functional passes have no side effects); restores the model after."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.was = self.model.training
        self.model.train()
        for m in bn_modules(self.model):
            m.track_running_stats = False
        return self.model

    def __exit__(self, *exc):
        for m in bn_modules(self.model):
            m.track_running_stats = True
        self.model.train(self.was)


def batch_statistics(model, params, images: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Buffers whose running statistics are ``images``' batch statistics (per BN layer,
    at ``params``): frozen-statistics modes evaluate in eval mode with these."""
    m = copy.deepcopy(model)
    with torch.no_grad():
        for n, p in m.named_parameters():
            p.copy_(params[n])
    for bn in bn_modules(m):
        bn.reset_running_stats()
        bn.momentum = 1.0
    m.train()
    with torch.no_grad():
        m(normalise(images), mode='tensor')
    return {n: b.detach().clone() for n, b in m.named_buffers()}


def train_states(model, x: torch.Tensor, y: torch.Tensor, epochs: Sequence[int],
                 batch: int, lr: float, seed: int) -> List[Dict]:
    """SGD (bench_policy's optimiser, constant lr) on clean images; the weights and
    buffers after each of ``epochs`` (sorted) epochs."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4,
                          nesterov=True)
    gen = torch.Generator().manual_seed(seed)
    states, done = [], 0
    model.train()
    for target in sorted(epochs):
        while done < target:
            order = torch.randperm(len(x), generator=gen)
            for k in range(0, len(x) - batch + 1, batch):
                idx = order[k:k + batch]
                loss = F.cross_entropy(model(normalise(x[idx]), mode='tensor'), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
            done += 1
        states.append(dict(epochs=target,
                           tensors={k: v.detach().clone() for k, v in
                                    [*model.named_parameters(), *model.named_buffers()]}))
    return states


def accuracy(model, tensors, x, y) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([logits_of(model, tensors, x[k:k + 256]).argmax(1)
                          for k in range(0, len(x), 256)])
    return float((pred == y).float().mean())


# ------------------------------------------------------------------------------ gradients
def flat(grads: Dict[str, torch.Tensor], names: Sequence[str]) -> torch.Tensor:
    """[n, P] from per-row gradient dicts ([n, *shape] each)."""
    return torch.cat([grads[n].reshape(grads[n].shape[0], -1) for n in names], dim=1)


def loss_rows_gradients(model, params, buffers, x, y, rows: torch.Tensor,
                        train_bn: bool) -> torch.Tensor:
    """Gradients [R, P] of ``rows @ losses`` (per-image cross-entropies of the batch
    ``x``), exact; with ``train_bn`` the batch statistics are those of ``x`` and the
    gradient goes through them."""
    names = list(params)

    def losses(p):
        return F.cross_entropy(logits_of(model, {**p, **buffers}, x), y, reduction='none')

    if train_bn:
        with BatchStats(model):
            _, fn = vjp(losses, params)
            return flat(vmap(fn)(rows)[0], names)
    model.eval()
    _, fn = vjp(losses, params)
    return flat(vmap(fn)(rows)[0], names)


def per_sample_gradients(model, params, buffers, x, y, train_bn: bool,
                         bn_batch: int) -> torch.Tensor:
    """[n, P] per-image gradients: train-mode BN in batches of ``bn_batch`` (each image's
    gradient through its batch's statistics: one backward per image), or eval-mode BN
    with ``buffers`` (independent images: ``vmap(grad)``)."""
    if train_bn:
        out = []
        for k in range(0, len(x), bn_batch):
            xb, yb = x[k:k + bn_batch], y[k:k + bn_batch]
            out.append(loss_rows_gradients(model, params, buffers, xb, yb,
                                           torch.eye(len(xb)), True))
        return torch.cat(out)
    names = list(params)
    model.eval()

    def one(p, xi, yi):
        return F.cross_entropy(logits_of(model, {**p, **buffers}, xi[None]), yi[None])

    g = vmap(grad(one), in_dims=(None, 0, 0), chunk_size=32)(params, x, y)
    return flat(g, names)


def held_out_gradients(model, params, buffers, x, y, train_bn: bool) -> torch.Tensor:
    """[11, P]: the gradient of the mean held-out loss, then of each class's mean loss
    (in one forward of the whole held-out batch)."""
    rows = [torch.full((len(y), ), 1.0 / len(y))]
    for c in range(10):
        mask = (y == c).float()
        rows.append(mask / mask.sum().clamp(min=1))
    return loss_rows_gradients(model, params, buffers, x, y, torch.stack(rows), train_bn)


def fd_check(model, params, x, y, v: torch.Tensor, exact_dots: torch.Tensor,
             eps: float = 0.01) -> Dict[str, float]:
    """Today's finite difference (``bilevel.finite_difference_losses``, train-mode BN on
    the batch, R = eps / ||v||; the hook's default ``fd_epsilon`` is 0.01) against the
    exact <g_i, v> of the same images."""
    from mmpretrain.structures import DataSample

    from dada_mm.search.bilevel import finite_difference_losses
    names, sizes = list(params), [p.numel() for p in params.values()]
    direction = {n: t.view_as(params[n]) for n, t in zip(names, v.split(sizes))}
    radius = eps / float(v.norm())
    samples = [DataSample().set_gt_label(int(c)) for c in y]
    model.train()
    # the model's own preprocessor (mean 127.5, std 64, to_rgb) sees the RGB tensor
    h = finite_difference_losses(model, params, direction, radius, x, samples, y,
                                 central=True)
    scale = float(exact_dots.abs().max())
    return dict(max_abs_diff_over_max=float((h - exact_dots).abs().max()) / scale,
                corr=float(torch.corrcoef(torch.stack([h, exact_dots]))[0, 1]))


def plain_step_seconds(model, params, x, y, repeats: int = 5) -> float:
    """Median time of one plain training step's forward and backward (train-mode BN,
    batch ``x``), the unit of the per-image gradient costs."""
    leaves = {n: p.detach().requires_grad_(True) for n, p in params.items()}
    buffers = {n: b for n, b in model.named_buffers()}
    times = []
    with BatchStats(model):
        for k in range(repeats + 1):
            t0 = time.perf_counter()
            loss = F.cross_entropy(logits_of(model, {**leaves, **buffers}, x), y)
            torch.autograd.grad(loss, list(leaves.values()))
            if k:  # the first is a warm-up
                times.append(time.perf_counter() - t0)
    return float(np.median(times))


# ------------------------------------------------------------------------------ statistics
def paired(diff: torch.Tensor) -> Dict[str, float]:
    """Mean, standard error (sample sd / sqrt n) and t of paired differences."""
    n = diff.numel()
    mean = float(diff.mean())
    se = float(diff.std(unbiased=True)) / math.sqrt(n) if n > 1 else float('nan')
    t = mean / se if se > 0 else (0.0 if mean == 0 else math.copysign(math.inf, mean))
    return dict(mean=mean, se=se, t=t)


def rewards_of(dots: torch.Tensor, norms: torch.Tensor, v_norms: torch.Tensor,
               labels: torch.Tensor) -> Dict[str, torch.Tensor]:
    """dots [n, 11] (<g_i, g_v>, then <g_i, g_v of class c>), norms [n], v_norms [11]."""
    rows = torch.arange(len(labels))
    cls = dots[rows, 1 + labels]
    tiny = 1e-30
    return dict(dot=dots[:, 0], cos=dots[:, 0] / (norms * v_norms[0]).clamp(min=tiny),
                dot_class=cls,
                cos_class=cls / (norms * v_norms[1 + labels]).clamp(min=tiny))


def candidates_of(shift: str, level: float) -> Dict[str, Tuple[str, float]]:
    """The 15 ops of the benchmark for one shift: op -> (op, level)."""
    from dada_mm.search_space.ops import OP_NAMES
    undo, undo_level = SHIFTS[shift]
    return {op: (op, undo_level if op == undo else level) for op in OP_NAMES}


# ------------------------------------------------------------------------------ main
def git_info() -> Dict:
    def run(*cmd):
        try:
            return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None
    status = run('git', 'status', '--porcelain', '--untracked-files=no')
    return dict(commit=run('git', 'rev-parse', 'HEAD'),
                dirty=None if status is None else bool(status))


def versions() -> Dict[str, str]:
    import mmengine
    import mmpretrain
    return dict(python=platform.python_version(), torch=torch.__version__,
                numpy=np.__version__, mmengine=mmengine.__version__,
                mmpretrain=mmpretrain.__version__)


def score_state(model, state, data, args, shifts, log) -> Dict:
    """Rewards of every candidate under every BN mode for one network state:
    {mode: {candidate: {shift: {reward: [n] tensor}}}}."""
    tensors = state['tensors']
    params = {n: tensors[n] for n, _ in model.named_parameters()}
    running = {n: tensors[n] for n, _ in model.named_buffers()}
    xs, ys = data['score']
    xv, yv = data['val']
    modes = args.bn_modes
    t0 = time.perf_counter()
    # held-out gradients per shift: train-mode BN and running statistics
    vals = {}
    for kind, train_bn in (('batch', True), ('running', False)):
        if kind == 'batch' and 'train' not in modes:
            continue
        vals[kind] = {s: held_out_gradients(
            model, params, running, apply_candidate(xv, SHIFTS[s], sign_seeds(args)['val']),
            yv, train_bn) for s in shifts}
    val_of = {'train': 'batch', 'train_valrun': 'running', 'eval': 'running',
              'clean': 'running', 'mixed': 'running'}
    # the frozen statistics
    gen = torch.Generator().manual_seed(args.seed + 1)
    default_cands = [('clean', 0.0)] + [(op, args.level) for op in candidates_of(
        'invert', args.level)]
    assign = torch.randperm(len(xs), generator=gen) % len(default_cands)
    mixed = xs.clone()
    for k, cand in enumerate(default_cands):
        idx = torch.nonzero(assign == k).view(-1)
        if len(idx):
            mixed[idx] = apply_candidate(xs[idx], cand)
    buffers_of = {'eval': running,
                  'clean': batch_statistics(model, params, xs) if 'clean' in modes else None,
                  'mixed': batch_statistics(model, params, mixed) if 'mixed' in modes else None,
                  'train': running}
    # every distinct candidate over the shifts, plus the clean image
    cands = {('clean', 0.0)}
    for s in shifts:
        cands |= set(candidates_of(s, args.level).values())
    out = {m: {} for m in modes}
    fd = None
    grad_seconds, grad_images = {}, {}
    plain = plain_step_seconds(model, params, xs[:args.batch_size], ys[:args.batch_size])
    log(f'  held-out gradients and statistics ({time.perf_counter() - t0:.0f} s)')
    for cand in sorted(cands, key=lambda c: (c[0], c[1])):
        x = apply_candidate(xs, cand, sign_seeds(args)['candidates'])
        for grad_mode in ('train', 'eval', 'clean', 'mixed'):
            users = [m for m in modes if (m if m != 'train_valrun' else 'train') == grad_mode]
            if not users:
                continue
            t1 = time.perf_counter()
            g = per_sample_gradients(model, params, buffers_of[grad_mode], x, ys,
                                     grad_mode == 'train', args.bn_batch)
            grad_seconds[grad_mode] = grad_seconds.get(grad_mode, 0.0) + (
                time.perf_counter() - t1)
            grad_images[grad_mode] = grad_images.get(grad_mode, 0) + len(x)
            norms = g.norm(dim=1)
            for m in users:
                per_shift = {}
                for s in shifts:
                    v = vals[val_of[m]][s]
                    per_shift[s] = rewards_of(g @ v.T, norms, v.norm(dim=1), ys)
                out[m][cand] = per_shift
            if grad_mode == 'train' and cand[0] == 'clean' and args.fd_check:
                s0 = shifts[0]
                b = min(args.bn_batch, len(xs))
                v = vals['batch'][s0][0]
                fd = dict(shift=s0, images=b, **{
                    f'eps_{eps:g}': fd_check(model, params, x[:b], ys[:b], v, g[:b] @ v, eps)
                    for eps in (0.01, 0.001)})
        log(f'  candidate {cand[0]}@{cand[1]:.3f} scored ({time.perf_counter() - t0:.0f} s)')
    cost = {m: dict(seconds_per_image=grad_seconds[m] / grad_images[m],
                    per_image_vs_plain_step=grad_seconds[m] / grad_images[m] / plain)
            for m in grad_seconds}
    return dict(rewards=out, fd_check=fd,
                cost=dict(plain_step_seconds=plain, plain_step_batch=min(args.batch_size,
                                                                          len(xs)),
                          gradients=cost))


def analyse(rewards, shifts, level, modes) -> List[Dict]:
    rows = []
    for m in modes:
        for s in shifts:
            cands = candidates_of(s, level)
            undo = SHIFTS[s][0]
            for r in REWARDS:
                clean = rewards[m][('clean', 0.0)][s][r]
                stats = {op: paired(rewards[m][cand][s][r] - clean)
                         for op, cand in cands.items()}
                order = sorted(stats, key=lambda op: -stats[op]['t'])
                rival = [op for op in order if op != undo][0]
                rows.append(dict(bn_mode=m, shift=s, reward=r, undo_op=undo,
                                 undo_level=cands[undo][1], rank=order.index(undo) + 1,
                                 undo=stats[undo], top_op=order[0],
                                 top_t=stats[order[0]]['t'], rival_op=rival,
                                 margin_t=stats[undo]['t'] - stats[rival]['t'],
                                 order=order, ops=stats))
    return rows


def add_setting_arguments(parser: argparse.ArgumentParser, size: int = 32) -> None:
    """The options of the shifts, data, network and training states, shared by the
    reward-signal benchmarks (``bench_lookahead_signal.py`` asks its question of the same
    setting)."""
    parser.add_argument('--shifts', nargs='+', default=list(SHIFTS), choices=list(SHIFTS))
    parser.add_argument('--epochs', type=int, nargs='+', default=[3, 8],
                        help='network states: weights after this many epochs')
    parser.add_argument('--level', type=float, default=0.7,
                        help="level of every op except the shift's undoing op")
    parser.add_argument('--width', type=int, default=8)
    parser.add_argument('--size', type=int, default=size)
    parser.add_argument('--train-per-class', type=int, default=50)
    parser.add_argument('--val-per-class', type=int, default=20)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--lr', type=float, default=0.05, help='lr of the training states')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=1)


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_setting_arguments(parser)
    parser.add_argument('--bn-modes', nargs='+', default=list(BN_MODES), choices=BN_MODES)
    parser.add_argument('--images', type=int, default=64, help='scored training images')
    parser.add_argument('--bn-batch', type=int, default=32,
                        help="images per op-only batch of the 'train' BN mode")
    parser.add_argument('--no-fd-check', dest='fd_check', action='store_false',
                        help='skip the finite-difference check of the dot reward')
    parser.add_argument('--quiet', action='store_true')
    parser.add_argument('--random-signs', action='store_true',
                        help='signed ops (the geometric shifts and candidates) take a sign of '
                             '+1 or -1 per image, as a policy and the policy benchmark draw it')
    parser.add_argument('--out', default=None, help='JSON file of all results')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    git = git_info()  # now, before this or a parallel run writes its results file

    def log(msg):
        if not args.quiet:
            print(msg, flush=True)

    x, y = digits_tensors(args.size)
    idx = split(y, args.train_per_class, args.val_per_class, args.seed)
    xt, yt = x[idx['train']], y[idx['train']]
    gen = torch.Generator().manual_seed(args.seed)
    pick = torch.randperm(len(xt), generator=gen)[:args.images]
    data = dict(score=(xt[pick], yt[pick]), val=(x[idx['val']], y[idx['val']]))
    model = build_model(args.width, args.seed)
    t0 = time.perf_counter()
    states = train_states(model, xt, yt, args.epochs, args.batch_size, args.lr, args.seed)
    train_s = time.perf_counter() - t0
    xte, yte = x[idx['test']], y[idx['test']]
    results, state_info = [], []
    t0 = time.perf_counter()
    for state in states:
        acc = accuracy(model, state['tensors'], xte, yte)
        shifted = {s: accuracy(model, state['tensors'], apply_candidate(xte, SHIFTS[s],
                                                                  sign_seeds(args)['test']), yte)
                   for s in args.shifts}
        log(f"state: {state['epochs']} epoch(s), clean test top-1 {100 * acc:.1f} %")
        scored = score_state(model, state, data, args, args.shifts, log)
        for row in analyse(scored['rewards'], args.shifts, args.level, args.bn_modes):
            results.append(dict(row, epochs=state['epochs']))
        state_info.append(dict(epochs=state['epochs'], clean_test_top1=acc,
                               shifted_test_top1=shifted, fd_check=scored['fd_check'],
                               cost=scored['cost']))
    score_s = time.perf_counter() - t0
    pairs = report(results, state_info, args)
    total = time.perf_counter() - t_start
    print(f'train {train_s:.0f} s, scoring {score_s:.0f} s, total {total:.0f} s '
          f'({args.threads} thread(s))')
    record = dict(command=' '.join([osp.relpath(__file__, REPO)] + list(
        sys.argv[1:] if argv is None else argv)),
        git=git, versions=versions(), args=vars(args),
        shifts={s: dict(op=o, level=lv) for s, (o, lv) in SHIFTS.items() if s in args.shifts},
        states=state_info, seconds=dict(train=train_s, scoring=score_s, total=total),
        summary=pairs, results=results)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(record, f, indent=1)
    print(' '.join(f'{k}={v}' for k, v in pairs.items()))
    return record


def report(results: List[Dict], states: List[Dict], args) -> Dict[str, str]:
    epochs = [s['epochs'] for s in states]
    for s in states:
        fd = s['fd_check']
        fd_txt = '' if fd is None else (
            f"; dot vs today's finite difference ({fd['shift']}, {fd['images']} clean "
            'images, eps 0.01 / 0.001): corr ' + ' / '.join(
                f"{fd[k]['corr']:.4f}" for k in ('eps_0.01', 'eps_0.001'))
            + ', max |diff| / max |dot| ' + ' / '.join(
                f"{fd[k]['max_abs_diff_over_max']:.3f}" for k in ('eps_0.01', 'eps_0.001')))
        shifted = ', '.join(f'{k} {100 * v:.1f}' for k, v in s['shifted_test_top1'].items())
        print(f"state {s['epochs']} epoch(s): clean test top-1 {100 * s['clean_test_top1']:.1f}"
              f' %, shifted: {shifted}{fd_txt}')
        cost = s['cost']
        print(f"  cost of one image's exact gradient, in plain training steps (batch "
              f"{cost['plain_step_batch']}, {1000 * cost['plain_step_seconds']:.0f} ms): "
              + ', '.join(f"{m} {c['per_image_vs_plain_step']:.3f}"
                          for m, c in cost['gradients'].items()))
    pairs = {}
    for r in REWARDS:
        for m in args.bn_modes:
            rows = [x for x in results if x['reward'] == r and x['bn_mode'] == m]
            print(f'\n{r} / BN {m}: rank of the undoing op (its t; the best other op '
                  'and its t)')
            print('| shift (op) | ' + ' | '.join(f'{e} ep' for e in epochs) + ' |')
            print('|---|' + '---|' * len(epochs))
            for s in args.shifts:
                cells = []
                for e in epochs:
                    (x, ) = [x for x in rows if x['shift'] == s and x['epochs'] == e]
                    rival_t = x['undo']['t'] - x['margin_t']
                    cells.append(f"{x['rank']} ({x['undo']['t']:.1f}; {x['rival_op']} "
                                 f'{rival_t:.1f})')
                print(f'| {s} ({SHIFTS[s][0]}) | ' + ' | '.join(cells) + ' |')
            first = sum(x['rank'] == 1 for x in rows)
            top3 = sum(x['rank'] <= 3 for x in rows)
            pairs[f'{r}_{m}_first'] = f'{first}/{len(rows)}'
            pairs[f'{r}_{m}_top3'] = f'{top3}/{len(rows)}'
    firsts = {k[:-len('_first')]: int(v.split('/')[0]) for k, v in pairs.items()
              if k.endswith('_first')}
    most = max(firsts.values())
    pairs['most_first'] = ','.join(k for k, v in firsts.items() if v == most)
    return pairs


if __name__ == '__main__':
    main()
