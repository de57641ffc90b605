"""`DADASearchHook`: learn a DADA policy while a stock mmpretrain classifier trains.

Per training iteration (one pass, DARTS order):

* ``before_train_iter``: draw a per-image policy sample (sub-policy k, on/off b, signs,
  Cutout centres) from the hook's generator, augment the uint8 batch on the training
  device with the batched ops, and hand it to the runner's unchanged training step.
* the runner's step (the config's optimiser, AMP, clipping, DDP) is the unrolled step.
* ``after_train_iter``: a held-out batch gives v = grad L_val(w_{t+1}); finite differences
  of the per-image training losses at w_t +/- R v give each image's reward; the estimator
  (RELAX by default) turns them into gradients for alpha and p, the magnitudes get the
  finite difference of their pathwise gradients; one Adam step on the policy.

After ``search_epochs`` the top-k policy is frozen and the hook keeps augmenting with it,
so one config yields both a policy file and a network pretrained with it.
"""
from __future__ import annotations

import copy
import datetime
import math
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from mmengine.dist import all_gather, all_reduce, get_dist_info
from mmengine.hooks import Hook
from mmengine.registry import HOOKS, OPTIMIZERS

from ..policy import save_policy_file
from ..search_space import OP_INDEX, OP_NAMES, SUB_POLICIES, SUB_POLICY_OP_INDICES
from .batched_ops import apply_sub_policies
from .bilevel import (directional_derivatives, finite_difference_losses, global_norm,
                      labels_of, trainable_parameters, unwrap_model, validation_gradient)
from .control_variate import RelaxControlVariate
from .distributions import sample_policy
from .estimators import build_estimator
from .held_out import HeldOutStream
from .op_sharing import OpSharing
from .policy_params import PolicyParameters
from .reward import CREDITS, RewardScaler, assign_credit

__all__ = ['DADASearchHook']

_ORDERS = ('second', 'first')
_MAGNITUDE_GRADS = ('straight_through', 'exact')
_REWARD_BASELINES = (None, 'clean')
_REWARD_NORMALIZATIONS = (None, 'rms')
_HELD_OUT_NORMS = ('batch', 'running')


@HOOKS.register_module()
class DADASearchHook(Hook):
    """Differentiable augmentation policy search, as a hook.

    Where the defaults differ from the paper's code (clean-image baseline, batch credit,
    per-op sharing, policy lr 0.02, RMS-normalised reward) they follow the policy-quality
    benchmark, ``benchmarks/bench_policy.py``
    (docs/benchmarks.md); each is an option, and the paper's settings are one config
    away (docs/benchmarks.md lists them).

    Args:
        val_dataloader: dataloader config of the held-out (search-val) split; its pipeline
            should not augment (the paper: resize + centre crop only).
        search_epochs: epochs during which the policy is learned (None: all of them); after
            it the top-k policy is frozen and used to augment the rest of training.
        estimator: 'relax' (paper), 'reinforce' (reference) or 'gumbel_st' (ablation).
        order: 'second' (central finite difference around w_t: two extra passes) or
            'first' (one-sided difference whose base point w_t is the training step
            itself, one extra pass; needs a plain cross-entropy head, no AMP).
        temperature: relaxation temperature tau (0.5 in every published run).
        magnitude_grad: 'straight_through' (paper, op-agnostic) or 'exact' (true gradient
            for warps and blends, straight-through for the rest).
        reward_baseline: 'clean' (default) subtracts from each image's reward the reward
            of the same image un-augmented (two more forward passes); it does not depend
            on the draw, so alpha and p stay unbiased. None: the paper's (no baseline).
        credit: 'batch' (default) pairs the batch reward with the joint score, which
            stays unbiased when BatchNorm couples the images; 'image' pairs image i's
            reward with its own score only (biased under BatchNorm, less variance); see
            ``search/reward.py``.
        reward_normalization: 'rms' (default) divides the reward (and the magnitude
            gradient) by a running RMS of earlier rewards, so that the estimator and its
            control variate see a reward of scale 1; None passes ``-xi * h`` as is.
        held_out_norm: how BatchNorm normalises the held-out batch: 'batch' (default: its
            own statistics, train mode, the paper's code) or 'running' (the running
            statistics, eval mode, as the network is tested). Batch statistics hide a
            shift of the held-out images that is affine in their intensities (darker,
            lower contrast); 'running' sees it (docs/benchmarks.md: +31.6 points on a
            darkened test set) but ranks a non-affine shift (Invert) less sharply; see
            ``bilevel.validation_gradient``.
        share_ops: True (default) adds per-op offsets to alpha, p and m
            (``search/op_sharing.py``), so that every draw of an op informs all 14
            sub-policies holding it; trained with the policy optimizer's settings. The
            exported policy has the same format. False: the paper's parameterisation.
        control_variate_optimizer: optimizer config of RELAX's control variate (its own
            Adam: its objective, the estimator's variance, has another scale than the
            policy's gradient).
        fd_epsilon: R = fd_epsilon / ||v|| (0.01 as DARTS).
        hypergrad_scale: 'lr' multiplies the hyper-gradient by the network learning rate
            (DARTS' xi; the official code omits it), or a fixed float.
        policy_optimizer: optimizer config for alpha, p and m (Adam, lr 0.02, betas
            (0.5, 0.999); the paper's lr is 0.005).
        fixed_val_batch: reuse the split's first batch at every step (the official code)
            instead of a fresh batch.
        update_interval: update the policy every n iterations.
        top_k: sub-policies written to the policy file (25 in the paper).
        project: clamp p and m back into [0, 1] after each step (the official code lets them
            drift outside and clamps only on use, which freezes them at 0 or 1).
        policy_file: file name in the work_dir.
        channel_order: channel order of the training images ('bgr' as OpenMMLab loads).
        seed: seed of the hook's generator; default: the runner's seed.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 val_dataloader: Optional[Dict] = None,
                 search_epochs: Optional[int] = None,
                 estimator: str = 'relax',
                 order: str = 'second',
                 temperature: float = 0.5,
                 magnitude_grad: str = 'straight_through',
                 reward_baseline: Optional[str] = 'clean',
                 credit: str = 'batch',
                 reward_normalization: Optional[str] = 'rms',
                 share_ops: bool = True,
                 held_out_norm: str = 'batch',
                 fd_epsilon: float = 0.01,
                 hypergrad_scale: Union[str, float] = 'lr',
                 policy_optimizer: Optional[Dict] = None,
                 control_variate: Optional[Dict] = None,
                 control_variate_optimizer: Optional[Dict] = None,
                 init: Optional[Dict] = None,
                 fixed_val_batch: bool = False,
                 update_interval: int = 1,
                 top_k: int = 25,
                 project: bool = True,
                 policy_file: str = 'dada_policy.json',
                 history_file: str = 'dada_search_history.json',
                 channel_order: str = 'bgr',
                 log_top: int = 5,
                 seed: Optional[int] = None) -> None:
        if val_dataloader is None:
            raise ValueError('DADASearchHook needs `val_dataloader`: the held-out '
                             '(search-val) split the policy is optimised on')
        if order not in _ORDERS:
            raise ValueError(f'order must be one of {list(_ORDERS)}, got {order!r}')
        if magnitude_grad not in _MAGNITUDE_GRADS:
            raise ValueError(f'magnitude_grad must be one of {list(_MAGNITUDE_GRADS)}, '
                             f'got {magnitude_grad!r}')
        if reward_baseline not in _REWARD_BASELINES:
            raise ValueError(f'reward_baseline must be one of {list(_REWARD_BASELINES)}, '
                             f'got {reward_baseline!r}')
        if credit not in CREDITS:
            raise ValueError(f'credit must be one of {list(CREDITS)}, got {credit!r}')
        if reward_normalization not in _REWARD_NORMALIZATIONS:
            raise ValueError('reward_normalization must be one of '
                             f'{list(_REWARD_NORMALIZATIONS)}, got '
                             f'{reward_normalization!r}')
        if not (isinstance(hypergrad_scale, (int, float)) or hypergrad_scale == 'lr'):
            raise ValueError(f"hypergrad_scale must be 'lr' or a number, got "
                             f'{hypergrad_scale!r}')
        if search_epochs is not None and search_epochs < 0:
            raise ValueError(f'search_epochs must be >= 0, got {search_epochs}')
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
        self.val_dataloader_cfg = val_dataloader
        self.search_epochs = search_epochs
        self.estimator_name = estimator
        self.estimator = build_estimator(estimator)
        self.order = order
        self.temperature = float(temperature)
        self.magnitude_grad = magnitude_grad
        self.reward_baseline = reward_baseline
        self.credit = credit
        self.reward_normalization = reward_normalization
        self.reward_scaler = RewardScaler() if reward_normalization == 'rms' else None
        self.share_ops = bool(share_ops)
        if held_out_norm not in _HELD_OUT_NORMS:
            raise ValueError(f'held_out_norm must be one of {list(_HELD_OUT_NORMS)}, got '
                             f'{held_out_norm!r}')
        self.held_out_norm = held_out_norm
        self.op_sharing: Optional[OpSharing] = None
        self.fd_epsilon = float(fd_epsilon)
        self.hypergrad_scale = hypergrad_scale
        self.policy_optimizer_cfg = dict(policy_optimizer or dict(
            type='Adam', lr=0.02, betas=(0.5, 0.999), weight_decay=0.0))
        self.control_variate_cfg = dict(control_variate or dict(hidden=100))
        self.control_variate_optimizer_cfg = dict(control_variate_optimizer or dict(
            type='Adam', lr=0.005, betas=(0.9, 0.999), weight_decay=0.0))
        self.init_cfg = dict(init or {})
        self.fixed_val_batch = fixed_val_batch
        self.update_interval = int(update_interval)
        self.top_k = int(top_k)
        self.project = project
        self.policy_file = policy_file
        self.history_file = history_file
        self.channel_order = channel_order
        self.log_top = int(log_top)
        self.seed = seed
        self._built = False
        self._pending_state: Optional[Dict] = None
        self._step_input: Optional[Dict] = None
        self._base_capture = None
        self._rank_generators: Optional[List[torch.Tensor]] = None
        self.frozen_policy: Optional[List[List[Dict[str, float]]]] = None
        self.history: List[Dict[str, Any]] = []
        self.updates = 0
        self.skipped_updates = 0

    # ------------------------------------------------------------------ set-up
    def _build(self, runner) -> None:
        if self._built:
            return
        model = unwrap_model(runner.model)
        if getattr(model.data_preprocessor, 'batch_augments', None) is not None:
            raise ValueError('DADASearchHook: the data preprocessor has batch_augments '
                             '(Mixup/CutMix); the search needs hard labels, remove them')
        if self.order == 'first':
            self._check_first_order(runner, model)
        self.device = next(model.parameters()).device
        self.policy = PolicyParameters(
            alpha_init=self.init_cfg.get('alpha', 1e-3),
            prob_init=self.init_cfg.get('prob', 0.5),
            magnitude_init=self.init_cfg.get('magnitude', 0.5)).to(self.device)
        seed = runner.seed if self.seed is None else self.seed
        seed = 0 if seed is None else int(seed)
        rank, world_size = get_dist_info()
        # the control variate starts identical on every rank (fixed seed, CPU init)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.control_variate = RelaxControlVariate(**self.control_variate_cfg)
        self.control_variate.to(self.device)
        opt_cfg = dict(self.policy_optimizer_cfg)
        opt_cfg['params'] = list(self.policy.parameters())
        self.optimizer = OPTIMIZERS.build(opt_cfg)
        cv_cfg = dict(self.control_variate_optimizer_cfg)
        cv_cfg['params'] = list(self.control_variate.parameters())
        self.cv_optimizer = OPTIMIZERS.build(cv_cfg)
        if self.share_ops:
            self.op_sharing = OpSharing(self.policy_optimizer_cfg).to(self.device)
        # per-rank draws (different images), identical parameters (averaged gradients)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed * 1000003 + rank)
        self.val_stream = HeldOutStream(self.val_dataloader_cfg, seed=seed,
                                        fixed=self.fixed_val_batch, rank=rank,
                                        world_size=world_size)
        self._op_table = torch.tensor(SUB_POLICY_OP_INDICES, dtype=torch.long,
                                      device=self.device)
        self._built = True
        if self._pending_state is not None:
            self._load_state(self._pending_state)
            self._pending_state = None

    @staticmethod
    def _check_first_order(runner, model) -> None:
        """First order reuses the training step's loss and input gradient as the base
        point of its difference, so that loss must be the plain per-image cross-entropy
        the other points use, in full precision, without gradient accumulation."""
        loss = getattr(getattr(model, 'head', None), 'loss_module', None)
        plain = (type(loss).__name__ == 'CrossEntropyLoss'
                 and not getattr(loss, 'use_sigmoid', False)
                 and not getattr(loss, 'use_soft', False)
                 and getattr(loss, 'loss_weight', 1.0) == 1.0
                 and getattr(loss, 'class_weight', None) is None)
        if not plain:
            raise ValueError("DADASearchHook(order='first') needs a classifier whose "
                             'head loss is a plain CrossEntropyLoss (loss_weight=1, no '
                             f"class weights or label smoothing), got {loss!r}; use "
                             "order='second'")
        wrapper = runner.optim_wrapper
        if type(wrapper).__name__ == 'AmpOptimWrapper':
            raise ValueError("DADASearchHook(order='first') cannot reuse a mixed-"
                             "precision training step; use order='second' with --amp")
        if getattr(wrapper, '_accumulative_counts', 1) != 1:
            raise ValueError("DADASearchHook(order='first') does not support gradient "
                             "accumulation; use order='second'")

    def before_run(self, runner) -> None:
        self._build(runner)

    def before_train(self, runner) -> None:
        self._build(runner)
        if not self.searching(runner) and self.frozen_policy is None:
            self._freeze(runner, runner.epoch)

    # ------------------------------------------------------------------ helpers
    def searching(self, runner) -> bool:
        return self.search_epochs is None or runner.epoch < self.search_epochs

    def _stack_inputs(self, inputs) -> torch.Tensor:
        if isinstance(inputs, torch.Tensor):
            images = inputs
        else:
            shapes = {tuple(x.shape) for x in inputs}
            if len(shapes) != 1:
                raise ValueError('DADASearchHook: training images must all have the same '
                                 f'shape (use a fixed-size crop); got {sorted(shapes)}')
            images = torch.stack(list(inputs))
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError('DADASearchHook: expected images of shape (B, C, H, W) with '
                             f'C in (1, 3), got {tuple(images.shape)}')
        return images.to(self.device)

    def _random_signs_centers(self, batch: int):
        g = self.generator
        signs = torch.where(torch.rand(batch, 2, generator=g, device=self.device) < 0.5,
                            1.0, -1.0)
        centers = torch.rand(batch, 2, 2, generator=g, device=self.device)
        return signs, centers

    def _augment(self, images, op_idx, apply, levels, signs, centers, grad_mode=None):
        return apply_sub_policies(images.float(), op_idx, apply, levels, signs, centers,
                                  channel_order=self.channel_order,
                                  magnitude_grad=grad_mode or self.magnitude_grad)

    @staticmethod
    def _put_back(data_batch, augmented: torch.Tensor) -> None:
        out = augmented.detach().round().clamp(0, 255).to(torch.uint8)
        inputs = data_batch['inputs']
        if isinstance(inputs, torch.Tensor):
            data_batch['inputs'] = out.to(inputs.device)
        else:
            data_batch['inputs'] = [x for x in out]

    def _lr(self, runner) -> float:
        lrs = runner.optim_wrapper.get_lr()
        first = next(iter(lrs.values()))
        return float(first[0] if isinstance(first, (list, tuple)) else first)

    # ------------------------------------------------------------------ train loop
    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._build(runner)
        if data_batch is None:
            return
        images = self._stack_inputs(data_batch['inputs'])
        batch = images.shape[0]
        with torch.no_grad():
            if self.searching(runner):
                sample = sample_policy(self.policy, batch, self.generator,
                                       tau=self.temperature, requires_grad=False)
                op_idx = self._op_table[sample.k]
                apply = sample.b
            else:
                sample = None
                op_idx, apply, levels = self._draw_frozen(batch)
            signs, centers = self._random_signs_centers(batch)
        update = (sample is not None
                  and (runner.iter + 1) % self.update_interval == 0)
        # on update iterations the batch keeps its graph to m: the policy step reuses it
        # instead of augmenting again
        with torch.set_grad_enabled(update):
            if sample is not None:
                levels = self.policy.clamped_magnitudes()[sample.k]
            augmented = self._augment(images, op_idx, apply, levels, signs, centers)
        model = unwrap_model(runner.model)
        if update and self.order == 'first':
            self._capture_base_point(model, data_batch, augmented)
        else:
            self._put_back(data_batch, augmented)
        if update:
            self._step_input = dict(
                augmented=augmented, images=images, sample=sample,
                data_samples=data_batch['data_samples'],
                weights={n: p.detach().clone()
                         for n, p in trainable_parameters(model).items()},
                lr=self._lr(runner))
        else:
            self._step_input = None

    def _capture_base_point(self, model, data_batch, augmented) -> None:
        """First order: the training step itself evaluates the base point w_t. Its input
        is a detached copy of the augmented batch that requires grad (so its backward
        leaves d loss / d images in ``.grad``), and its head's logits are recorded (the
        per-image losses)."""
        x = augmented.detach().requires_grad_(True)
        data_batch['inputs'] = x
        captured = {'inputs': x}

        def keep_logits(module, args, output):
            captured['logits'] = output.detach()

        self._base_capture = (captured, model.head.register_forward_hook(keep_logits))

    def _base_point(self, labels):
        captured, handle = self._base_capture
        handle.remove()
        self._base_capture = None
        grad = captured['inputs'].grad
        if 'logits' not in captured or grad is None:
            raise RuntimeError("DADASearchHook(order='first'): the training step did not "
                               'run the head forward/backward on the augmented batch')
        f0 = torch.nn.functional.cross_entropy(captured['logits'], labels,
                                               reduction='none')
        return f0, grad.detach()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        self._gather_generators()
        step_input, self._step_input = self._step_input, None
        if step_input is None:
            return
        stats = self._policy_step(runner, step_input)
        for key, value in stats.items():
            runner.message_hub.update_scalar(f'train/dada_{key}', value)

    # ------------------------------------------------------------------ policy step
    def _policy_step(self, runner, s: Dict) -> Dict[str, float]:
        model = unwrap_model(runner.model)
        params = trainable_parameters(model)
        labels = labels_of(s['data_samples']).to(self.device)
        base = self._base_point(labels) if self.order == 'first' else None
        # 1. v = grad of the held-out loss at the updated weights w_{t+1}
        v, val_loss = validation_gradient(model, self.val_stream.next(), params,
                                          norm=self.held_out_norm)
        v_norm = float(global_norm(v))
        # every rank must take the same branch: a rank returning here alone would leave
        # the others waiting in the collectives below
        if not self._all_ranks(math.isfinite(v_norm) and v_norm != 0.0):
            return self._skip(runner, f'validation gradient norm is {v_norm} (on this '
                                      'or another rank)')
        radius = self.fd_epsilon / v_norm
        xi = s['lr'] if self.hypergrad_scale == 'lr' else float(self.hypergrad_scale)

        # 2. per-image losses at w_t +/- R v on the same augmented images
        sample = s['sample']
        h, dh_dm = directional_derivatives(
            model, s['weights'], v, radius, s['augmented'], s['data_samples'], labels,
            self.policy.magnitudes, central=self.order == 'second', base=base)
        reward = -xi * h                              # d L_val(w_{t+1}) contribution
        if self.reward_baseline == 'clean':
            h_clean = finite_difference_losses(
                model, s['weights'], v, radius, s['images'].float(), s['data_samples'],
                labels, central=self.order == 'second')
            reward = -xi * (h - h_clean)
        grad_m = -xi * dh_dm
        reward = assign_credit(reward, self.credit)
        if self.reward_scaler is not None:
            mean_square = self._rank_mean(self.reward_scaler.mean_square(reward))
            scale = self.reward_scaler.scale(mean_square)
            reward, grad_m = reward * scale, grad_m * scale

        # 3. gradients of alpha, p (estimator) and of the control variate
        for p in list(self.policy.parameters()) + list(self.control_variate.parameters()):
            p.grad = None
        estimate = self.estimator(reward, sample, self.policy, self.control_variate)
        estimate.apply_to(self.policy, self.control_variate)
        self.policy.magnitudes.grad = grad_m.detach().clone()

        grads = [p.grad for p in self._all_policy_params() if p.grad is not None]
        finite = self._all_ranks(all(bool(torch.isfinite(g).all()) for g in grads))
        _, world_size = get_dist_info()
        if not finite:
            return self._skip(runner, 'non-finite policy gradient')
        if world_size > 1:
            for g in grads:
                all_reduce(g, op='mean')
        if self.op_sharing is not None:
            self.op_sharing.step(self.policy)
        self.optimizer.step()
        self.cv_optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.cv_optimizer.zero_grad(set_to_none=True)
        if self.reward_scaler is not None:
            self.reward_scaler.update(mean_square)
        if self.project:
            with torch.no_grad():
                self.policy.probs.clamp_(0.0, 1.0)
                self.policy.magnitudes.clamp_(0.0, 1.0)
        self.updates += 1
        stats = {k: float(vv) for k, vv in estimate.stats.items()
                 if isinstance(vv, (int, float)) and math.isfinite(vv)}
        stats.update(val_loss=val_loss, entropy=float(self.policy.entropy().detach()),
                     h_mean=float(h.mean()), grad_m_norm=float(grad_m.norm()))
        return stats

    def _rank_mean(self, value: float) -> float:
        """``value`` averaged over the ranks (one all-reduce when distributed)."""
        if get_dist_info()[1] == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        all_reduce(t, op='mean')
        return float(t)

    def _all_ranks(self, ok: bool) -> bool:
        """True when ``ok`` holds on every rank (one all-reduce when distributed)."""
        return self._rank_mean(0.0 if ok else 1.0) == 0.0

    def _all_policy_params(self):
        return list(self.policy.parameters()) + list(self.control_variate.parameters())

    def _skip(self, runner, why: str) -> Dict[str, float]:
        self.skipped_updates += 1
        for p in self._all_policy_params():
            p.grad = None
        runner.logger.warning(f'DADASearchHook: skipped the policy update at iter '
                              f'{runner.iter + 1}: {why}; alpha, p and m are unchanged')
        return {'skipped_updates': float(self.skipped_updates)}

    # ------------------------------------------------------------------ frozen policy
    def _draw_frozen(self, batch: int):
        """Per image: a uniformly chosen frozen sub-policy and its ops' on/off draws."""
        table = self._frozen_tensors
        g = self.generator
        k = torch.randint(table['op_idx'].shape[0], (batch,), generator=g,
                          device=self.device)
        u = torch.rand(batch, 2, generator=g, device=self.device)
        apply = (u < table['probs'][k]).float()
        return table['op_idx'][k], apply, table['levels'][k]

    def export_policy(self, k: Optional[int] = None) -> List[List[Dict[str, float]]]:
        """The top-k sub-policies by alpha, as policy-file entries."""
        out = []
        for index, probs, mags in self.policy.top_k(k or self.top_k):
            out.append([dict(op=name, prob=p, magnitude=m)
                        for name, p, m in zip(SUB_POLICIES[index], probs, mags)])
        return out

    def _freeze(self, runner, epochs_done: int) -> None:
        self.frozen_policy = self.export_policy()
        self._set_frozen_tensors()
        runner.logger.info(f'DADASearchHook: search finished after {self.search_epochs} '
                           f'epoch(s); training continues with the frozen top-'
                           f'{len(self.frozen_policy)} policy')
        self._write_policy(runner, epochs_done)

    def _set_frozen_tensors(self) -> None:
        rows = self.frozen_policy
        self._frozen_tensors = dict(
            op_idx=torch.tensor([[OP_INDEX[o['op']] for o in sub] for sub in rows],
                                dtype=torch.long, device=self.device),
            probs=torch.tensor([[o['prob'] for o in sub] for sub in rows],
                               device=self.device),
            levels=torch.tensor([[o['magnitude'] for o in sub] for sub in rows],
                                device=self.device))

    # ------------------------------------------------------------------ outputs
    def _policy_meta(self, runner, epochs_done: int) -> Dict[str, Any]:
        return dict(
            source='dada_mm DADASearchHook',
            date=datetime.datetime.now().isoformat(timespec='seconds'),
            epochs_done=int(epochs_done), iteration=int(runner.iter),
            frozen=self.frozen_policy is not None, ranked_by='alpha',
            search=dict(estimator=self.estimator_name, order=self.order,
                        temperature=self.temperature, magnitude_grad=self.magnitude_grad,
                        reward_baseline=self.reward_baseline, credit=self.credit,
                        reward_normalization=self.reward_normalization,
                        share_ops=self.share_ops, held_out_norm=self.held_out_norm,
                        search_epochs=self.search_epochs, top_k=self.top_k,
                        fd_epsilon=self.fd_epsilon, hypergrad_scale=self.hypergrad_scale,
                        fixed_val_batch=self.fixed_val_batch, updates=self.updates,
                        skipped_updates=self.skipped_updates,
                        policy_optimizer=copy.deepcopy(self.policy_optimizer_cfg)),
            selection_probs=[float(x) for x in self.policy.selection_probs()
                             .detach().cpu()[[i for i, _, _ in
                                              self.policy.top_k(self.top_k)]]])

    def _write_policy(self, runner, epochs_done: int) -> None:
        if runner.rank != 0:
            return
        sub_policies = self.frozen_policy or self.export_policy()
        path = save_policy_file(osp.join(runner.work_dir, self.policy_file), sub_policies,
                                self._policy_meta(runner, epochs_done))
        self._write_history(runner)
        runner.logger.info(f'DADASearchHook: wrote {path}')

    def _write_history(self, runner) -> None:
        import json
        import os
        import tempfile
        path = osp.join(runner.work_dir, self.history_file)
        fd, tmp = tempfile.mkstemp(dir=runner.work_dir, suffix='.tmp')
        with os.fdopen(fd, 'w') as f:
            json.dump(dict(sub_policies=[list(p) for p in SUB_POLICIES],
                           epochs=self.history), f)
        os.replace(tmp, path)

    def _record_history(self, runner) -> None:
        self.history.append(dict(
            epoch=int(runner.epoch) + 1, iteration=int(runner.iter),
            selection_probs=self.policy.selection_probs().detach().cpu().tolist(),
            probs=self.policy.probs.detach().clamp(0, 1).cpu().tolist(),
            magnitudes=self.policy.magnitudes.detach().clamp(0, 1).cpu().tolist()))

    def _log_top(self, runner) -> None:
        lines = []
        sel = self.policy.selection_probs().detach().cpu()
        for rank, (index, probs, mags) in enumerate(self.policy.top_k(self.log_top)):
            a, b = SUB_POLICIES[index]
            lines.append(f'  #{rank} [{float(sel[index]):.4f}] {a}(p={probs[0]:.2f}, '
                         f'm={mags[0]:.2f}) + {b}(p={probs[1]:.2f}, m={mags[1]:.2f})')
        runner.logger.info(f'DADASearchHook: epoch {runner.epoch + 1} entropy '
                           f'{float(self.policy.entropy().detach()):.4f}, top sub-policies:\n'
                           + '\n'.join(lines))

    def after_train_epoch(self, runner) -> None:
        if self.frozen_policy is not None:
            return
        # runner.epoch is still the 0-based index of the epoch that just finished
        self._record_history(runner)
        self._log_top(runner)
        if self.search_epochs is not None and runner.epoch + 1 >= self.search_epochs:
            self._freeze(runner, runner.epoch + 1)
        else:
            self._write_policy(runner, runner.epoch + 1)

    def after_train(self, runner) -> None:
        if self.frozen_policy is None:
            self._write_policy(runner, runner.epoch)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> Dict[str, Any]:
        return dict(
            policy=self.policy.state_dict(),
            control_variate=self.control_variate.state_dict(),
            optimizer=self.optimizer.state_dict(),
            cv_optimizer=self.cv_optimizer.state_dict(),
            op_sharing=(None if self.op_sharing is None
                        else self.op_sharing.state_dict()),
            reward_scaler=(None if self.reward_scaler is None
                           else self.reward_scaler.state_dict()),
            generator=self.generator.get_state(),
            rank_generators=self._rank_generators,
            val_stream=self.val_stream.state_dict(),
            estimator=self.estimator.state_dict(),
            frozen_policy=self.frozen_policy,
            history=self.history,
            updates=self.updates,
            skipped_updates=self.skipped_updates)

    def _load_state(self, state: Dict[str, Any]) -> None:
        self.policy.load_state_dict(state['policy'])
        self.control_variate.load_state_dict(state['control_variate'])
        self.optimizer.load_state_dict(state['optimizer'])
        self.cv_optimizer.load_state_dict(state['cv_optimizer'])
        if self.op_sharing is not None and state.get('op_sharing') is not None:
            self.op_sharing.load_state_dict(state['op_sharing'])
        if self.reward_scaler is not None and state.get('reward_scaler') is not None:
            self.reward_scaler.load_state_dict(state['reward_scaler'])
        self._load_generator(state)
        self.val_stream.load_state_dict(state['val_stream'])
        self.estimator.load_state_dict(state['estimator'])
        self.frozen_policy = state['frozen_policy']
        if self.frozen_policy is not None:
            self._set_frozen_tensors()
        self.history = list(state['history'])
        self.updates = int(state['updates'])
        self.skipped_updates = int(state['skipped_updates'])

    def _gather_generators(self) -> None:
        """Keep every rank's generator state at hand for checkpoints, which only rank 0
        writes (``save_checkpoint`` is master-only, so no collective can run there)."""
        if get_dist_info()[1] > 1:
            self._rank_generators = [
                g.cpu() for g in all_gather(self.generator.get_state().to(self.device))]

    def _load_generator(self, state: Dict[str, Any]) -> None:
        rank, world_size = get_dist_info()
        states = state.get('rank_generators')
        if states is not None and len(states) == world_size:
            self.generator.set_state(states[rank].cpu())
            return
        self.generator.set_state(state['generator'].cpu())  # rank 0's stream
        if rank > 0:  # other world size: keep the ranks' draws distinct
            seed = int(torch.randint(2 ** 31, (1, ), generator=self.generator,
                                     device=self.device))
            self.generator.manual_seed(seed * 1000003 + rank)

    def before_save_checkpoint(self, runner, checkpoint: Dict) -> None:
        self._build(runner)
        checkpoint['dada_search'] = self.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: Dict) -> None:
        state = checkpoint.get('dada_search')
        if state is None:
            runner.logger.warning('DADASearchHook: the checkpoint holds no search state; '
                                  'the policy starts from its initial values')
            return
        if self._built:
            self._load_state(state)
        else:
            self._pending_state = state
