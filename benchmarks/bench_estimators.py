"""Variance and bias of the policy-gradient estimators: a toy problem with an exact gradient,
then a real search step of the demo model.

Part 1, toy (``--part toy``): 4 sub-policies x 2 ops, reward f(k, b) from a fixed table
(rewards ~2-7, i.e. with a large common offset, as a training loss has), so E[f] and its
gradient w.r.t. (alpha, probs) are enumerated exactly over the 16 outcomes. For each
estimator it reports, as the mean over the 12 gradient entries:
  * per-sample variance of the single-draw estimate g_i,
  * variance of the batch estimate (mean of --batch-size draws), measured across batches,
  * bias: |mean estimate - exact| in standard errors (max over entries) and relative L2.
RELAX is measured after training its control variate for --cv-steps steps.

Part 2, real step (``--part real``): the rewards the search hook feeds the estimators.
The demo search config (configs/demo/demo_search_shapes.py, 105 sub-policies) is built on a
generated shapes set, the network is trained --real-pretrain-iters plain iterations, then
frozen: fixed weights w, one fixed training batch, one held-out batch giving
v = grad L_val(w) and R = fd_epsilon / ||v||, as in ``search/bilevel_reward.py``
(except that v is taken at w itself: no training step between the two).
Each "draw batch" is a fresh, independent policy sample for the fixed images (the hook's
PolicyParameters at init, optionally perturbed by --real-policy-noise), the images
augmented with it, and the per-image reward -xi * h with h from
``directional_derivatives(..., central=True)``. All estimators see the same draws:
  * relax: the hook's control variate after --real-cv-batches Adam steps (the hook's
    policy optimizer settings), each on a fresh draw batch as in the hook (repeated
    --real-cv-passes times), then frozen and measured on --real-batches new draw batches;
  * relax_untrained_cv: the same control variate before training;
  * reinforce, reinforce+ema_baseline (momentum 0.9, warmed up on the control-variate
    batches, then updated after every measured batch), gumbel_st;
  * reinforce+image_baseline: an oracle bound, not something the hook can do (it sees one
    draw per image): REINFORCE with each image's mean reward over the other draw batches
    as its baseline, i.e. what an image-dependent baseline could remove;
  * reinforce+clean_baseline: REINFORCE with the reward of the un-augmented image as each
    image's baseline (draw-independent, so unbiased; computable in the hook at the cost of
    one more pair of forward passes).
There is no exact gradient, so it reports per-sample variance, variance of the batch
estimate (across draw batches), and paired tests on the same draws with the draw batch as
the independent unit: z_j = mean(g_j - ref_j) / SE for each of the 315 gradient entries,
summarised by mean z^2 (~1 if both estimators have the same mean) and max |z| (~3.3
expected by chance over 315 entries). Unbiased estimators are tested against REINFORCE,
Gumbel-ST against RELAX (the hook's default). ``grad z^2`` is the same statistic
of the RELAX mean against zero: how well the true gradient is resolved at all.

Usage: python benchmarks/bench_estimators.py [--part both|toy|real] [--samples 40000]
       [--real-batches 300] [--real-cv-batches 100] [--seed 0]
The last printed line is ``key=value`` pairs (toy keys, then ``real_*`` keys).
"""
from __future__ import annotations

import argparse
import copy
import math
import os
import os.path as osp
import sys
import tempfile
import time
from typing import Dict, List, Optional

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dada_mm.search.control_variate import RelaxControlVariate  # noqa: E402
from dada_mm.search.distributions import sample_policy  # noqa: E402
from dada_mm.search.estimators import (  # noqa: E402
    GumbelStraightThroughEstimator,
    ReinforceEstimator,
    RelaxEstimator,
)
from dada_mm.search.policy_params import PolicyParameters  # noqa: E402
from dada_mm.testing.toy_rewards import exact_gradient, table_reward  # noqa: E402

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


def flat_per_sample(out) -> torch.Tensor:
    """[B, 3N] per-sample (alpha, probs) estimates of a GradientEstimate."""
    return torch.cat([out.per_sample_alpha, out.per_sample_probs.flatten(1)], dim=1)


def measure(out, exact, batch: int) -> dict:
    per = flat_per_sample(out)
    n = per.shape[0] - per.shape[0] % batch
    batch_means = per[:n].view(-1, batch, per.shape[1]).mean(1)
    mean = per.mean(0)
    se = per.std(0) / math.sqrt(per.shape[0])
    err = mean - exact
    return dict(per_sample_var=per.var(0).mean().item(),
                batch_var=batch_means.var(0).mean().item(),
                bias_se=(err.abs() / se.clamp_min(1e-12)).max().item(),
                bias_rel=(err.norm() / exact.norm()).item())


# --------------------------------------------------------------------------- part 1: toy
def run_toy(args) -> Dict[str, str]:
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
    return {'relax_vs_reinforce_variance': f'{ratio:.4f}',
            'relax_vs_reinforce_baseline_variance': f'{ratio_b:.4f}',
            'relax_batch_variance': f"{rows['relax']['batch_var']:.6f}",
            'reinforce_batch_variance': f"{rows['reinforce']['batch_var']:.6f}",
            'gumbel_st_bias': f"{rows['gumbel_st']['bias_rel']:.4f}",
            'gumbel_st_bias_se': f"{rows['gumbel_st']['bias_se']:.2f}",
            'relax_bias_se': f"{rows['relax']['bias_se']:.2f}",
            'reinforce_bias_se': f"{rows['reinforce']['bias_se']:.2f}"}


# --------------------------------------------------------------------- part 2: real step
def build_search_runner(args, work_dir: str, data_root: str):
    """Runner of the demo search config on ``data_root`` and its DADASearchHook."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    path = args.config
    if not osp.isfile(path):  # relative to the repository root
        path = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), path)
    cfg = Config.fromfile(path)
    cfg.work_dir = work_dir
    cfg.launcher = 'none'
    cfg.log_level = 'WARNING'
    cfg.device = 'cpu'
    cfg.randomness = dict(seed=args.seed, deterministic=False)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = data_root
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    cfg.train_dataloader.batch_size = args.real_batch_size
    hooks = [h for h in cfg.custom_hooks if h['type'] == 'DADASearchHook']
    if len(hooks) != 1:
        raise ValueError(f'{args.config}: expected one DADASearchHook in custom_hooks')
    val = hooks[0]['val_dataloader']
    val['dataset']['data_root'] = data_root
    val['batch_size'] = args.real_batch_size
    val['num_workers'] = 0
    if args.real_crop:
        for pipeline in (cfg.train_dataloader.dataset.pipeline, val['dataset']['pipeline']):
            for t in pipeline:
                if t['type'] == 'RandomResizedCrop':
                    t['scale'] = args.real_crop
                elif t['type'] == 'CenterCrop':
                    t['crop_size'] = args.real_crop
                elif t['type'] == 'ResizeEdge':
                    t['scale'] = args.real_crop
    runner = Runner.from_cfg(cfg)
    runner._train_loop = runner.build_train_loop(runner._train_loop)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.call_hook('before_run')
    runner.call_hook('before_train')
    hook = [h for h in runner.hooks if type(h).__name__ == 'DADASearchHook'][0]
    return runner, hook


class RealStep:
    """One frozen search step: fixed weights, training batch, held-out direction v.

    ``draw(generator)`` returns the per-image rewards and the policy sample of one fresh,
    independent draw batch, computed as ``BilevelReward`` (search/bilevel_reward.py) does.
    """

    def __init__(self, runner, hook, args) -> None:
        from dada_mm.search.bilevel import (
            global_norm,
            labels_of,
            trainable_parameters,
            unwrap_model,
            validation_gradient,
        )
        from dada_mm.search_space import SUB_POLICY_OP_INDICES
        self.hook = hook
        self.model = unwrap_model(runner.model)
        loader = iter(runner.train_dataloader)
        self.train_losses = []
        for _ in range(args.real_pretrain_iters):
            try:
                batch = next(loader)
            except StopIteration:
                loader = iter(runner.train_dataloader)
                batch = next(loader)
            out = runner.model.train_step(batch, optim_wrapper=runner.optim_wrapper)
            self.train_losses.append(float(sum(v.detach() for v in out.values()
                                               if isinstance(v, torch.Tensor))))
        self.model.train()  # the hook's extra passes run in train mode (BN batch stats)
        batch = next(iter(runner.train_dataloader))
        inputs = batch['inputs']
        images = inputs if isinstance(inputs, torch.Tensor) else torch.stack(list(inputs))
        self.images = images.float()
        self.data_samples = batch['data_samples']
        self.labels = labels_of(self.data_samples)
        params = trainable_parameters(self.model)
        self.weights = {n: p.detach().clone() for n, p in params.items()}
        self.v, self.val_loss = validation_gradient(self.model, hook.val_stream.next(), params)
        self.v_norm = float(global_norm(self.v))
        if not (math.isfinite(self.v_norm) and self.v_norm > 0):
            raise RuntimeError(f'held-out gradient norm is {self.v_norm}')
        self.radius = hook.bilevel_reward.fd_epsilon / self.v_norm
        lr = runner.optim_wrapper.get_lr()
        lr = next(iter(lr.values()))
        lr = float(lr[0] if isinstance(lr, (list, tuple)) else lr)
        scale = hook.bilevel_reward.hypergrad_scale
        self.xi = lr if scale == 'lr' else float(scale)
        self.policy = copy.deepcopy(hook.policy)  # the hook's own policy is never touched
        if args.real_policy_noise > 0:
            g = torch.Generator().manual_seed(args.seed + 4000)
            s = args.real_policy_noise
            with torch.no_grad():
                self.policy.alpha.add_(s * torch.randn(self.policy.alpha.shape, generator=g))
                logit = torch.logit(self.policy.probs.clamp(0.01, 0.99))
                self.policy.probs.copy_(torch.sigmoid(
                    logit + s * torch.randn(logit.shape, generator=g)))
        self.op_table = torch.tensor(SUB_POLICY_OP_INDICES, dtype=torch.long)
        self.tau = hook.learner_cfg.temperature
        self.reward_scale = 1.0  # set by run_real to the hook's RMS normalisation

    def draw(self, generator: torch.Generator):
        from dada_mm.search.batched_ops import apply_sub_policies
        from dada_mm.search.bilevel import directional_derivatives
        bsz = self.images.shape[0]
        with torch.no_grad():
            sample = sample_policy(self.policy, bsz, generator, tau=self.tau,
                                   requires_grad=False)
            signs = torch.where(torch.rand(bsz, 2, generator=generator) < 0.5, 1.0, -1.0)
            centers = torch.rand(bsz, 2, 2, generator=generator)
        levels = self.policy.clamped_magnitudes()[sample.k]
        x = apply_sub_policies(self.images, self.op_table[sample.k], sample.b, levels, signs,
                               centers, channel_order=self.hook.channel_order,
                               magnitude_grad=self.hook.magnitude_grad)
        h, _ = directional_derivatives(self.model, self.weights, self.v, self.radius, x,
                                       self.data_samples, self.labels,
                                       self.policy.magnitudes, central=True)
        return (-self.xi * self.reward_scale * h).detach(), sample

    def clean_reward(self) -> torch.Tensor:
        """The per-image reward of the un-augmented batch: a draw-independent baseline
        the hook could afford (one more pair of forward passes)."""
        from dada_mm.search.bilevel import directional_derivatives
        h, _ = directional_derivatives(self.model, self.weights, self.v, self.radius,
                                       self.images, self.data_samples, self.labels,
                                       self.policy.magnitudes, central=True)
        return (-self.xi * self.reward_scale * h).detach()


def paired_z(a: torch.Tensor, b: torch.Tensor) -> Dict[str, float]:
    """Paired test of E[a] == E[b] per entry over independent units (rows of [M, D]).

    Entries where the difference never varies are left out (identical estimates).
    """
    d = (a - b).double()
    se = d.std(0) / math.sqrt(d.shape[0])
    keep = se > 0
    z = d.mean(0)[keep] / se[keep]
    return dict(z2=float((z ** 2).mean()) if keep.any() else float('nan'),
                max_abs=float(z.abs().max()) if keep.any() else float('nan'))


def signal_norm2(units: torch.Tensor) -> float:
    """Unbiased estimate of ||E[unit]||^2 from i.i.d. rows: ||mean||^2 - sum SE^2."""
    u = units.double()
    return float(u.mean(0).pow(2).sum() - (u.var(0) / u.shape[0]).sum())


def run_real(args) -> Dict[str, str]:
    from mmengine.registry import OPTIMIZERS

    from dada_mm.datasets.synthetic import make_classification_set
    torch.set_num_threads(args.real_threads)
    t_start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        data_root = osp.join(tmp, 'shapes')
        make_classification_set(data_root, args.real_classes, args.real_train_per_class, 1,
                                args.real_image_size, seed=args.seed)
        torch.manual_seed(args.seed)
        runner, hook = build_search_runner(args, osp.join(tmp, 'work_dir'), data_root)
        step = RealStep(runner, hook, args)
    t_setup = time.time() - t_start
    gen = torch.Generator().manual_seed(args.seed + 3000)
    policy = step.policy
    cv_init = copy.deepcopy(hook.learner.control_variate)  # the hook's, untrained
    cv = copy.deepcopy(cv_init)
    opt_cfg = dict(hook.learner_cfg.control_variate_optimizer)
    opt_cfg['params'] = list(cv.parameters())
    opt = OPTIMIZERS.build(opt_cfg)
    trainer = RelaxEstimator(train_control_variate=True)
    baseline = ReinforceEstimator(baseline_momentum=0.9)

    # control variate: one optimizer step per fresh draw batch, as the hook does
    t0 = time.time()
    pool, var_loss = [], []
    for _ in range(args.real_cv_batches):
        pool.append(step.draw(gen))
    # the hook's reward normalisation: rewards divided by their RMS (here: that of the
    # control variate's draws, one fixed factor; it changes no ratio between the
    # score-function estimators, only the scale the control variate works at)
    scale = 1.0
    if hook.learner.reward_scaler is not None and pool:
        scale = float(torch.cat([r for r, _ in pool]).double().pow(2).mean()) ** -0.5
    step.reward_scale = scale
    pool = [(r * scale, smp) for r, smp in pool]
    for reward, sample in pool:
        baseline(reward, sample, policy)  # warm the EMA baseline on them too
    t_cv_draws = time.time() - t0
    for _ in range(args.real_cv_passes):
        for reward, sample in pool:
            out = trainer(reward, sample, policy, cv)
            opt.zero_grad()
            for p, g in zip(cv.parameters(), out.control_variate_grads):
                p.grad = g
            opt.step()
            var_loss.append(out.stats['variance_loss'])
    cv.requires_grad_(False)
    t_cv = time.time() - t0
    del pool

    estimators = (('relax', RelaxEstimator(train_control_variate=False), cv),
                  ('relax_untrained_cv', RelaxEstimator(train_control_variate=False),
                   cv_init),
                  ('reinforce', ReinforceEstimator(), None),
                  ('reinforce+ema_baseline', baseline, None),
                  ('gumbel_st', GumbelStraightThroughEstimator(), None))
    per: Dict[str, List[torch.Tensor]] = {name: [] for name, _, _ in estimators}
    secs = {name: 0.0 for name, _, _ in estimators}
    rewards, samples = [], []
    t0 = time.time()
    for _ in range(args.real_batches):
        reward, sample = step.draw(gen)
        rewards.append(reward)
        samples.append(sample)
        for name, est, cv_arg in estimators:
            t = time.time()
            per[name].append(flat_per_sample(est(reward, sample, policy, cv_arg)))
            secs[name] += time.time() - t
    t_measure = time.time() - t0

    rewards_all = torch.stack(rewards)                          # [M, B]
    # What an image-dependent baseline could remove (an oracle the hook does not have: it
    # sees one draw per image): REINFORCE with, for image i in draw batch m, the mean reward
    # of image i over the *other* draw batches. The draws are independent, so this baseline
    # is independent of draw m and the estimator stays unbiased.
    if len(rewards) > 1:
        name, t = 'reinforce+image_baseline', time.time()
        loo = (rewards_all.sum(0, keepdim=True) - rewards_all) / (len(rewards) - 1)
        oracle = ReinforceEstimator()
        per[name] = [flat_per_sample(oracle(r - b, smp, policy, None))
                     for r, b, smp in zip(rewards, loo, samples)]
        secs[name] = time.time() - t
    name, t = 'reinforce+clean_baseline', time.time()
    clean = step.clean_reward()
    plain = ReinforceEstimator()
    per[name] = [flat_per_sample(plain(r - clean, smp, policy, None))
                 for r, smp in zip(rewards, samples)]
    secs[name] = time.time() - t
    del samples
    rows, units = {}, {}
    for name, chunks in per.items():
        allp = torch.cat(chunks).double()                       # [M * B, 315]
        units[name] = torch.stack([c.double().mean(0) for c in chunks])  # [M, 315]
        rows[name] = dict(per_sample_var=float(allp.var(0).mean()),
                          batch_var=float(units[name].var(0).mean()),
                          sec=secs[name])
    ref_var = rows['reinforce']['per_sample_var']
    for name, row in rows.items():
        row['vs_reinforce'] = row['per_sample_var'] / ref_var
        ref = 'relax' if name in ('reinforce', 'gumbel_st') else 'reinforce'
        row['ref'] = ref
        row.update(paired_z(units[name], units[ref]))
    grad = paired_z(units['relax'], torch.zeros_like(units['relax']))
    sig = signal_norm2(units['relax'])
    dev = signal_norm2(units['gumbel_st'] - units['relax'])
    st_rel = math.sqrt(max(dev, 0.0) / sig) if sig > 0 else float('nan')

    bsz = step.images.shape[0]
    n_cv = len(var_loss)
    k = max(1, min(10, n_cv // 2))
    vl = (f'variance loss {sum(var_loss[:k]) / k:.4g} -> {sum(var_loss[-k:]) / k:.4g} '
          f'(first/last {k} steps)' if n_cv else 'untrained')
    print(f'real search step: {args.config}, 105 sub-policies x 2 ops, tau={step.tau}, '
          f'batch {bsz} images {tuple(step.images.shape[1:])}, seed={args.seed}, '
          f'{args.real_pretrain_iters} plain training iterations first '
          f"(last loss {step.train_losses[-1] if step.train_losses else float('nan'):.3f}), "
          f'held-out loss {step.val_loss:.3f}, ||v|| {step.v_norm:.3f}, R {step.radius:.3g}, '
          f'xi {step.xi:.3g}, policy noise {args.real_policy_noise}')
    print(f'reward -xi*h over {args.real_batches} x {bsz} draws: mean '
          f'{rewards_all.mean().item():.4g}, std {rewards_all.std().item():.4g} (image part: '
          f'std of per-image means {rewards_all.mean(0).std().item():.4g}; draw part: mean '
          f'within-image std {rewards_all.std(0).mean().item():.4g})')
    print(f'RELAX control variate: {args.real_cv_batches} fresh draw batches x '
          f'{args.real_cv_passes} pass(es) = {n_cv} Adam steps ({t_cv:.1f}s, of which draws '
          f'{t_cv_draws:.1f}s), {vl}; setup {t_setup:.1f}s, measurement {t_measure:.1f}s')
    print(f'gradient resolution: RELAX mean vs 0: z^2 {grad["z2"]:.2f}, max|z| '
          f'{grad["max_abs"]:.2f} (z^2 ~1 would mean the true gradient is not resolved)')
    hdr = (f"{'estimator':<24}{'per-sample var':>16}{'batch var':>14}{'vs reinforce':>14}"
           f"{'ref':>11}{'z^2 vs ref':>12}{'max|z|':>9}{'time s':>9}")
    print(hdr)
    print('-' * len(hdr))
    for name, r in rows.items():
        print(f"{name:<24}{r['per_sample_var']:>16.4g}{r['batch_var']:>14.4g}"
              f"{r['vs_reinforce']:>14.4f}{r['ref']:>11}{r['z2']:>12.2f}"
              f"{r['max_abs']:>9.2f}{r['sec']:>9.3f}")
    print(f'gumbel_st bias: ||E[st] - E[relax]|| / ||E[relax]|| ~ {st_rel:.3f} '
          f'(noise-corrected norms)')
    relax = rows['relax']
    return {'real_relax_vs_reinforce_variance': f"{relax['vs_reinforce']:.4f}",
            'real_relax_vs_reinforce_baseline_variance':
                f"{relax['per_sample_var'] / rows['reinforce+ema_baseline']['per_sample_var']:.4f}",
            'real_relax_untrained_vs_reinforce_variance':
                f"{rows['relax_untrained_cv']['vs_reinforce']:.4f}",
            'real_reinforce_baseline_vs_reinforce_variance':
                f"{rows['reinforce+ema_baseline']['vs_reinforce']:.4f}",
            'real_relax_batch_variance': f"{relax['batch_var']:.4g}",
            'real_reinforce_batch_variance': f"{rows['reinforce']['batch_var']:.4g}",
            'real_relax_vs_reinforce_dev_z2': f"{relax['z2']:.2f}",
            'real_relax_vs_reinforce_dev_se': f"{relax['max_abs']:.2f}",
            'real_gumbel_st_dev_z2': f"{rows['gumbel_st']['z2']:.2f}",
            'real_gumbel_st_dev_se': f"{rows['gumbel_st']['max_abs']:.2f}",
            'real_gumbel_st_bias_rel': f'{st_rel:.3f}',
            'real_grad_z2': f"{grad['z2']:.2f}",
            'real_clean_baseline_vs_reinforce_variance':
                f"{rows['reinforce+clean_baseline']['vs_reinforce']:.4f}",
            'real_image_baseline_vs_reinforce_variance':
                f"{rows.get('reinforce+image_baseline', {}).get('vs_reinforce', math.nan):.4f}"}


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--part', choices=('both', 'toy', 'real'), default='both')
    ap.add_argument('--samples', type=int, default=40000, help='toy: draws per estimator')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--batch-size', type=int, default=128,
                    help='toy: draws per batch estimate')
    ap.add_argument('--cv-steps', type=int, default=300,
                    help='toy: control-variate training steps')
    ap.add_argument('--tau', type=float, default=0.5, help='toy: temperature')
    ap.add_argument('--threads', type=int, default=1,
                    help='toy: torch intra-op threads (tiny tensors: more threads only contend)')
    ap.add_argument('--config', default='configs/demo/demo_search_shapes.py',
                    help='real: search config (one DADASearchHook)')
    ap.add_argument('--real-batches', type=int, default=300,
                    help='real: measured draw batches (draws = batches x batch size)')
    ap.add_argument('--real-batch-size', type=int, default=32, help='real: images per batch')
    ap.add_argument('--real-cv-batches', type=int, default=100,
                    help='real: fresh draw batches the control variate is trained on')
    ap.add_argument('--real-cv-passes', type=int, default=1,
                    help='real: passes over them (1: one step per fresh batch, as the hook)')
    ap.add_argument('--real-pretrain-iters', type=int, default=20,
                    help='real: plain training iterations before the weights are frozen')
    ap.add_argument('--real-policy-noise', type=float, default=0.0,
                    help='real: std of a random perturbation of alpha and logit(p) (0: the '
                         "hook's uniform init)")
    ap.add_argument('--real-classes', type=int, default=6)
    ap.add_argument('--real-train-per-class', type=int, default=40)
    ap.add_argument('--real-image-size', type=int, default=64)
    ap.add_argument('--real-crop', type=int, default=0, help="real: crop size (0: config's)")
    ap.add_argument('--real-threads', type=int, default=1,
                    help='real: torch intra-op threads (on the shared 2-core dev CPU, 2 '
                         'threads ran ~10x slower than 1)')
    args = ap.parse_args(argv)
    if args.part in ('real', 'both') and (args.real_batches < 2 or args.real_batch_size < 2):
        ap.error('--real-batches and --real-batch-size must be >= 2')

    keys: Dict[str, str] = {}
    if args.part in ('toy', 'both'):
        keys.update(run_toy(args))
    if args.part in ('real', 'both'):
        if args.part == 'both':
            print()
        keys.update(run_real(args))
    print(' '.join(f'{k}={v}' for k, v in keys.items()))


if __name__ == '__main__':
    main()
