"""Lookahead signal per op: does a few real training steps on an op rank the undoing op first?

``bench_signal.py`` asks the search's one-step rewards (a gradient's inner product or
cosine with the held-out gradient) which op undoes a planted shift. Where the shift's
sign is drawn per image (half the held-out digits rotated one way, half the other, and
every candidate's sign drawn per image as a policy draws it), those rewards lose the
geometric ops: a candidate turned one way is scored against held-out images turned both
ways, and to first order the two halves cancel. This benchmark asks the same question of
a reward that is not first order: copy the network, train it for ``--steps`` SGD steps on
training batches that all carry one op (signs drawn per image), and measure the held-out
loss on the shifted images. An op's score is the clean trial's held-out loss minus its
own, paired over ``--repeats`` trials that share their batches, their signs and their
starting weights (common random numbers), so that which batches they were cancels.

BatchNorm during the trial steps (``--bn-modes``):

* ``train``: train mode, running statistics updated, as training on the op would;
* ``train_keepstats``: train mode, then the running statistics put back as they were, so
  only what the weights learnt is scored;
* ``eval``: running statistics throughout (frozen BatchNorm).

Data, network, shifts and training states are ``bench_signal.py``'s (its helpers are
reused). Prints, per BN mode, the undoing op's rank among the 15 ops by t and its t for
every (shift, state), the cost of one op's trial in plain training steps, and last
``key=value`` pairs (how many (shift, state) pairs rank the undoing op first, per mode).
``--out`` writes everything with the provenance (``provenance.py``).
"""
import argparse
import os.path as osp
import sys
import time
from typing import Dict, List, Sequence

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, osp.dirname(HERE))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from bench_signal import (  # noqa: E402
    SHIFTS,
    accuracy,
    add_setting_arguments,
    apply_candidate,
    build_model,
    candidates_of,
    digits_tensors,
    normalise,
    plain_step_seconds,
    split,
    train_states,
)
from provenance import provenance, write_results  # noqa: E402

BN_MODES = ('train', 'train_keepstats', 'eval')


def load_state(model: torch.nn.Module, tensors: Dict[str, torch.Tensor]) -> None:
    """Put a training state's weights and buffers into ``model`` in place."""
    with torch.no_grad():
        for n, t in [*model.named_parameters(), *model.named_buffers()]:
            t.copy_(tensors[n])


def held_out_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean cross-entropy on the held-out images, BatchNorm on running statistics."""
    model.eval()
    with torch.no_grad():
        return float(F.cross_entropy(model(normalise(x), mode='tensor'), y))


def trial(model: torch.nn.Module, state: Dict, cand, batches: Sequence[torch.Tensor],
          sign_seeds: Sequence[int], xt: torch.Tensor, yt: torch.Tensor,
          xv: torch.Tensor, yv: torch.Tensor, lr: float, bn_mode: str) -> float:
    """The held-out loss after ``len(batches)`` SGD steps from ``state`` on training
    batches that all carry ``cand`` (signs drawn per image from ``sign_seeds``)."""
    load_state(model, state['tensors'])
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    model.train(bn_mode != 'eval')
    for idx, seed in zip(batches, sign_seeds):
        x = apply_candidate(xt[idx], cand, sign_seed=seed)
        loss = F.cross_entropy(model(normalise(x), mode='tensor'), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    if bn_mode == 'train_keepstats':
        with torch.no_grad():
            for n, b in model.named_buffers():
                b.copy_(state['tensors'][n])
    return held_out_loss(model, xv, yv)


def paired_t(diff: np.ndarray) -> Dict[str, float]:
    """Mean, standard error and t of paired differences."""
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float('nan')
    mean = float(diff.mean())
    return dict(mean=mean, se=se, t=mean / se if se > 0 else float('nan'))


def score_shift(model, state, shift: str, data: Dict, args, bn_mode: str) -> Dict:
    """Every op's paired lookahead score for one shift, state and BN mode."""
    xt, yt = data['train']
    xv, yv = data['val']
    undo, level = SHIFTS[shift]
    xvs = apply_candidate(xv, (undo, level), sign_seed=args.seed + 2)
    cands = dict(clean=('clean', 0.0), **candidates_of(shift, args.level))
    losses = {c: [] for c in cands}
    for r in range(args.repeats):
        gen = torch.Generator().manual_seed(1000 * args.seed + r)
        batches = [torch.randint(0, len(xt), (args.trial_batch, ), generator=gen)
                   for _ in range(args.steps)]
        seeds = [10000 * (args.seed + 1) + 100 * r + j for j in range(args.steps)]
        for c, cand in cands.items():
            losses[c].append(trial(model, state, cand, batches, seeds, xt, yt, xvs, yv,
                                   args.trial_lr, bn_mode))
    clean = np.asarray(losses['clean'])
    # a trial whose loss is not finite (SGD diverged) gives its op a t of nan, ranked last
    diverged = sorted(c for c, v in losses.items() if not np.isfinite(v).all())
    stats = {op: paired_t(clean - np.asarray(losses[op])) for op in cands if op != 'clean'}
    order = sorted(stats, key=lambda op: -np.nan_to_num(stats[op]['t'], nan=-np.inf))
    return dict(shift=shift, bn_mode=bn_mode, undo_op=undo, undo_level=level,
                rank=order.index(undo) + 1, undo=stats[undo], top_op=order[0],
                top_t=stats[order[0]]['t'], order=order, ops=stats,
                clean_loss=float(clean.mean()), diverged=diverged)


def report(results: List[Dict], epochs: Sequence[int], args) -> Dict[str, str]:
    pairs = {}
    for m in args.bn_modes:
        rows = [r for r in results if r['bn_mode'] == m]
        print(f'\nlookahead ({args.steps} steps, lr {args.trial_lr:g}) / BN {m}: rank of '
              'the undoing op (its t; the first op and its t)')
        print('| shift (op) | ' + ' | '.join(f'{e} ep' for e in epochs) + ' |')
        print('|---|' + '---|' * len(epochs))
        for s in args.shifts:
            cells = []
            for e in epochs:
                (r, ) = [r for r in rows if r['shift'] == s and r['epochs'] == e]
                cells.append(f"{r['rank']} ({r['undo']['t']:.1f}; {r['top_op']} "
                             f"{r['top_t']:.1f})")
            print(f'| {s} ({SHIFTS[s][0]}) | ' + ' | '.join(cells) + ' |')
        bad = sum(bool(r['diverged']) for r in rows)
        if bad:
            print(f'  {bad} of {len(rows)} (shift, state) pairs had trials whose SGD diverged '
                  '(a non-finite held-out loss; those ops rank last): lower --trial-lr')
        pairs[f'lookahead_{m}_diverged'] = f'{bad}/{len(rows)}'
        pairs[f'lookahead_{m}_first'] = f"{sum(r['rank'] == 1 for r in rows)}/{len(rows)}"
        pairs[f'lookahead_{m}_top3'] = f"{sum(r['rank'] <= 3 for r in rows)}/{len(rows)}"
    return pairs


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_setting_arguments(parser, size=16)
    parser.add_argument('--bn-modes', nargs='+', default=list(BN_MODES), choices=BN_MODES)
    parser.add_argument('--steps', type=int, default=4, help='SGD steps per trial')
    parser.add_argument('--repeats', type=int, default=8,
                        help='trials per op (paired with the clean trial)')
    parser.add_argument('--trial-batch', type=int, default=16)
    parser.add_argument('--trial-lr', type=float, default=0.05)
    parser.add_argument('--out', default=None, help='JSON file of all results')
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 2:
        parser.error('--steps must be >= 1 and --repeats >= 2 (a paired t needs two)')
    torch.set_num_threads(args.threads)
    made_by = provenance(osp.relpath(__file__, osp.dirname(HERE)),
                         sys.argv[1:] if argv is None else argv)  # before a parallel run

    t_start = time.perf_counter()
    x, y = digits_tensors(args.size)
    idx = split(y, args.train_per_class, args.val_per_class, args.seed)
    xt, yt = x[idx['train']], y[idx['train']]
    data = dict(train=(xt, yt), val=(x[idx['val']], y[idx['val']]))
    model = build_model(args.width, args.seed)
    states = train_states(model, xt, yt, args.epochs, args.batch_size, args.lr, args.seed)
    # one training step of a trial's batch, forward and backward (bench_signal's unit)
    plain = plain_step_seconds(model, dict(model.named_parameters()), xt[:args.trial_batch],
                               yt[:args.trial_batch])
    xte, yte = x[idx['test']], y[idx['test']]
    results, state_info = [], []
    for state in states:
        acc = accuracy(model, state['tensors'], xte, yte)
        state_info.append(dict(epochs=state['epochs'], clean_test_top1=acc))
        print(f"state: {state['epochs']} epoch(s), clean test top-1 {100 * acc:.1f} %",
              flush=True)
        for m in args.bn_modes:
            for s in args.shifts:
                t0 = time.perf_counter()
                row = score_shift(model, state, s, data, args, m)
                row.update(epochs=state['epochs'], seconds=time.perf_counter() - t0)
                results.append(row)
    epochs = [s['epochs'] for s in state_info]
    pairs = report(results, epochs, args)
    total = time.perf_counter() - t_start
    # one op's trial: `steps` training steps at the trial batch, plus one held-out pass
    print(f'\none trial = {args.steps} plain steps of {args.trial_batch} images '
          f'({1000 * plain:.1f} ms each); an op scored by {args.repeats} trials against '
          f'the clean image\'s costs {2 * args.repeats * args.steps} plain steps; '
          f'total {total:.0f} s')
    record = dict(provenance=made_by, args=vars(args), states=state_info,
                  plain_step_seconds=plain, seconds=total, summary=pairs, results=results)
    if args.out:
        write_results(args.out, made_by, args, states=state_info, plain_step_seconds=plain,
                      seconds=total, summary=pairs, results=results)
    print(' '.join(f'{k}={v}' for k, v in pairs.items()))
    return record


if __name__ == '__main__':
    main()
