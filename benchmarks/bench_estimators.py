"""Variance and bias of the policy-gradient estimators on a toy problem with an exact gradient.

Toy: 4 sub-policies x 2 ops, reward f(k, b) from a fixed table (rewards ~2-7, i.e. with a
large common offset, as a training loss has), so E[f] and its gradient w.r.t. (alpha, probs)
are enumerated exactly over the 16 outcomes.

For each estimator it reports, as the mean over the 12 gradient entries:
  * per-sample variance of the single-draw estimate g_i,
  * variance of the batch estimate (mean of --batch-size draws), measured across batches,
  * bias: |mean estimate - exact| in standard errors (max over entries) and relative L2.
RELAX is measured after training its control variate for --cv-steps steps.

Usage: python benchmarks/bench_estimators.py [--samples 40000] [--seed 0]
The last printed line is ``key=value`` pairs.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dada_mm.search.control_variate import RelaxControlVariate  # noqa: E402
from dada_mm.search.distributions import sample_policy  # noqa: E402
from dada_mm.search.estimators import (GumbelStraightThroughEstimator,  # noqa: E402
                                       RelaxEstimator, ReinforceEstimator, exact_gradient,
                                       table_reward)
from dada_mm.search.policy_params import PolicyParameters  # noqa: E402

N = 4
TABLE = torch.tensor([[[4.0, 5.5], [3.0, 6.0]], [[5.0, 2.5], [4.5, 7.0]],
                      [[3.5, 6.5], [5.5, 4.0]], [[6.0, 3.0], [2.0, 5.0]]])


def toy_params() -> PolicyParameters:
    params = PolicyParameters(N)
    with torch.no_grad():
        params.alpha.copy_(torch.tensor([0.3, -0.2, 0.5, 0.0]))
        params.probs.copy_(torch.tensor([[0.3, 0.7], [0.5, 0.2], [0.8, 0.6], [0.4, 0.9]]))
    return params


def train_control_variate(params, steps: int, batch: int, seed: int, lr: float = 1e-2):
    """Adam on phi with the RELAX variance gradient, policy parameters held fixed."""
    torch.manual_seed(seed)
    cv = RelaxControlVariate(N)
    opt = torch.optim.Adam(cv.parameters(), lr=lr)
    g, est = torch.Generator().manual_seed(seed + 1), RelaxEstimator()
    for _ in range(steps):
        s = sample_policy(params, batch, g, requires_grad=False)
        out = est(table_reward(TABLE, s), s, params, cv)
        opt.zero_grad()
        for p, grad in zip(cv.parameters(), out.control_variate_grads):
            p.grad = grad
        opt.step()
    return cv


def measure(out, exact, batch: int) -> dict:
    per = torch.cat([out.per_sample_alpha, out.per_sample_probs.flatten(1)], dim=1)
    n = per.shape[0] - per.shape[0] % batch
    batch_means = per[:n].view(-1, batch, per.shape[1]).mean(1)
    mean = per.mean(0)
    se = per.std(0) / math.sqrt(per.shape[0])
    err = mean - exact
    return dict(per_sample_var=per.var(0).mean().item(),
                batch_var=batch_means.var(0).mean().item(),
                bias_se=(err.abs() / se.clamp_min(1e-12)).max().item(),
                bias_rel=(err.norm() / exact.norm()).item())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--samples', type=int, default=40000, help='draws per estimator')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--batch-size', type=int, default=128, help='draws per batch estimate')
    ap.add_argument('--cv-steps', type=int, default=300, help='control-variate training steps')
    ap.add_argument('--tau', type=float, default=0.5)
    ap.add_argument('--threads', type=int, default=1,
                    help='torch intra-op threads (tiny tensors: more threads only contend)')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    params = toy_params()
    ga, gp = exact_gradient(params, TABLE)
    exact = torch.cat([ga, gp.flatten()])
    t0 = time.time()
    cv = train_control_variate(params, args.cv_steps, args.batch_size, args.seed)
    t_cv = time.time() - t0

    s = sample_policy(params, args.samples, torch.Generator().manual_seed(args.seed + 1000),
                      tau=args.tau, requires_grad=False)
    f = table_reward(TABLE, s)
    # EMA baseline warmed up on an independent earlier batch (so it is independent of s)
    baseline = ReinforceEstimator(baseline_momentum=0.9)
    s_warm = sample_policy(params, args.batch_size,
                           torch.Generator().manual_seed(args.seed + 2000), requires_grad=False)
    baseline(table_reward(TABLE, s_warm), s_warm, params)
    rows = {}
    for name, est, cv_arg in (('relax', RelaxEstimator(train_control_variate=False), cv),
                              ('reinforce', ReinforceEstimator(), None),
                              ('reinforce+ema_baseline', baseline, None),
                              ('gumbel_st', GumbelStraightThroughEstimator(), None)):
        t = time.time()
        out = est(f, s, params, cv_arg)
        rows[name] = measure(out, exact, args.batch_size)
        rows[name]['sec'] = time.time() - t

    print(f'toy problem: {N} sub-policies x 2 ops, tau={args.tau}, samples={args.samples}, '
          f'batch={args.batch_size}, seed={args.seed}, RELAX control variate trained '
          f'{args.cv_steps} steps ({t_cv:.1f}s)')
    print(f'exact gradient norm: {exact.norm().item():.4f}')
    hdr = (f"{'estimator':<24}{'per-sample var':>16}{'batch var':>14}{'bias (max SE)':>15}"
           f"{'bias (rel L2)':>15}{'time s':>9}")
    print(hdr)
    print('-' * len(hdr))
    for name, r in rows.items():
        print(f"{name:<24}{r['per_sample_var']:>16.4f}{r['batch_var']:>14.6f}"
              f"{r['bias_se']:>15.2f}{r['bias_rel']:>15.4f}{r['sec']:>9.3f}")
    ratio = rows['relax']['per_sample_var'] / rows['reinforce']['per_sample_var']
    ratio_b = rows['relax']['per_sample_var'] / rows['reinforce+ema_baseline']['per_sample_var']
    print(f"relax_vs_reinforce_variance={ratio:.4f} "
          f"relax_vs_reinforce_baseline_variance={ratio_b:.4f} "
          f"relax_batch_variance={rows['relax']['batch_var']:.6f} "
          f"reinforce_batch_variance={rows['reinforce']['batch_var']:.6f} "
          f"gumbel_st_bias={rows['gumbel_st']['bias_rel']:.4f} "
          f"gumbel_st_bias_se={rows['gumbel_st']['bias_se']:.2f} "
          f"relax_bias_se={rows['relax']['bias_se']:.2f} "
          f"reinforce_bias_se={rows['reinforce']['bias_se']:.2f}")


if __name__ == '__main__':
    main()
