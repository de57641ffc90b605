"""`PolicyLearner`: the learnable policy and everything that updates it.

It owns the policy parameters (alpha, p, m), RELAX's control variate, the gradient
estimator, the per-op sharing (``op_sharing.py``), the reward scaler (``reward.py``), the
optimisers of the policy and of the control variate, and the generator of every random
draw of the search (policy samples, signs, Cutout centres, frozen draws). It knows nothing
of runners or networks: the hook asks it for draws (:meth:`sample`) and hands it the
per-image rewards of those draws (:meth:`step`).

One step: scale the reward by the running RMS of earlier rewards (the mean square
averaged over the ranks), let the estimator turn it into gradients of alpha and p (and of
the control variate's variance objective), put the magnitude gradient on m, check that
every gradient is finite on every rank (else :class:`SkipPolicyUpdate`: nothing moves),
average the gradients over the ranks, step the per-op offsets and both optimisers, and
clamp p and m back into [0, 1] (``clamp_after_step``).

Every rank holds identical parameters (averaged gradients, identical initialisation: the
control variate is initialised on the CPU from the seed) and its own generator stream
(``seed * 1000003 + rank``), so the ranks draw different augmentations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from mmengine.dist import all_gather, all_reduce, get_dist_info
from mmengine.registry import OPTIMIZERS
from torch import Tensor

from ..search_space import DADA_SEARCH_SPACE, SearchSpace
from ..utils.dist import all_ranks, rank_mean
from .control_variate import RelaxControlVariate
from .distributions import PolicySample, sample_policy
from .estimators import build_estimator
from .op_sharing import OpSharing
from .policy_params import PolicyParameters
from .reward import RewardScaler

__all__ = ['LearnerConfig', 'PolicyLearner', 'PolicyReward', 'SkipPolicyUpdate', 'P_M_PER',
           'REWARD_NORMALIZATIONS', 'INIT_KEYS', 'initial_magnitudes']

REWARD_NORMALIZATIONS = (None, 'rms')
#: lr 0.01: on the policy-quality benchmark it finds more planted shifts than 0.02 (62 of
#: 84 searches against 56) and its natural-digit policies retrain at least as well
DEFAULT_POLICY_OPTIMIZER = dict(type='Adam', lr=0.01, betas=(0.5, 0.999), weight_decay=0.0)
DEFAULT_CONTROL_VARIATE = dict(hidden=100)
DEFAULT_CV_OPTIMIZER = dict(type='Adam', lr=0.005, betas=(0.9, 0.999), weight_decay=0.0)
#: keys of ``init``: the starting selection logit, apply probability, level of every op,
#: and level of the signed ops (None: ``magnitude``)
INIT_KEYS = ('alpha', 'prob', 'magnitude', 'signed_magnitude')


def initial_magnitudes(init: Optional[Dict] = None,
                       space: SearchSpace = DADA_SEARCH_SPACE) -> Tensor:
    """[N, 2] starting levels of the sub-policies of ``space`` (105 for DADA's) for an
    ``init`` (:data:`INIT_KEYS`): its ``magnitude`` (default 0.5) everywhere, its
    ``signed_magnitude`` (None: the same) on the slots of the signed ops (DADA's ShearX/Y,
    TranslateX/Y, Rotate).

    A signed op draws its sign per image, so its levels l and 1 - l are the same
    augmentation and the expected reward is symmetric about 0.5, its identity: at 0.5 the
    level's expected gradient is exactly zero, and so is the op's effect on the reward that
    selects it. Starting those ops away from 0.5 gives both a signal from the first step;
    what that changes in the found policies is measured in docs/benchmarks.md.
    """
    init = init or {}
    levels = torch.full((space.num_sub_policies, 2), float(init.get('magnitude', 0.5)))
    signed_magnitude = init.get('signed_magnitude')
    if signed_magnitude is not None:
        signed = space.signed_ops()[torch.tensor(space.pairs)]
        levels[signed] = float(signed_magnitude)
    return levels


class SkipPolicyUpdate(Exception):
    """This policy step cannot be taken on every rank (the message says why); alpha, p
    and m stay as they are."""


@dataclass
class PolicyReward:
    """What one policy step learns from (``bilevel_reward.BilevelReward`` computes it).

    Attributes:
        per_image: [B] rewards of the step's draws, credited, not yet scaled.
        grad_magnitudes: [N, 2] gradient of the (unscaled) reward in the magnitudes.
        val_loss: held-out loss (logged).
        h_mean: mean finite-difference hyper-gradient of the training loss (logged).
    """
    per_image: Tensor
    grad_magnitudes: Tensor
    val_loss: float
    h_mean: float


#: what an apply probability and a level belong to (``LearnerConfig.p_m_per``): each
#: sub-policy's slot ('sub_policy', the paper's), or the op, shared by the 14 sub-policies
#: holding it ('op': 30 numbers learnt from every draw of their op instead of 420 learnt
#: from the few draws of their sub-policy; the selection stays per sub-policy)
P_M_PER = ('sub_policy', 'op')


@dataclass
class LearnerConfig:
    """Options of :class:`PolicyLearner`: ``DADASearchHook``'s ``estimator`` and the keys
    of its ``learner`` sub-config of the same names (None takes the defaults below).
    Checked when created."""
    estimator: Union[str, Dict] = 'candidates'
    estimator_options: Dict = field(default_factory=dict)
    temperature: float = 0.5
    reward_normalization: Optional[str] = 'rms'
    share_ops: bool = True
    p_m_per: str = 'sub_policy'
    policy_optimizer: Optional[Dict] = None
    control_variate: Optional[Dict] = None
    control_variate_optimizer: Optional[Dict] = None
    init: Optional[Dict] = None
    clamp_after_step: bool = True

    def __post_init__(self) -> None:
        # a name, or dict(type=name, **its options); kept apart as estimator (the name) and
        # estimator_options
        if isinstance(self.estimator, dict):
            options = dict(self.estimator)
            if 'type' not in options:
                raise ValueError("estimator as a dict needs 'type' (the estimator's name), "
                                 f'got {self.estimator!r}')
            self.estimator = options.pop('type')
            self.estimator_options = {**self.estimator_options, **options}
        # a KeyError listing the estimators if unknown, a ValueError naming a bad option
        # (DADA_ESTIMATORS)
        build_estimator(self.estimator, **self.estimator_options)
        if self.reward_normalization not in REWARD_NORMALIZATIONS:
            raise ValueError('reward_normalization must be one of '
                             f'{list(REWARD_NORMALIZATIONS)}, got '
                             f'{self.reward_normalization!r}')
        self.temperature = float(self.temperature)
        self.share_ops = bool(self.share_ops)
        if self.p_m_per not in P_M_PER:
            raise ValueError(f'p_m_per must be one of {list(P_M_PER)}, got {self.p_m_per!r}')
        if self.p_m_per == 'op' and not self.share_ops:
            raise ValueError("p_m_per='op' learns p and m through the per-op offsets of "
                             'share_ops: it needs share_ops=True')
        self.policy_optimizer = dict(self.policy_optimizer or DEFAULT_POLICY_OPTIMIZER)
        self.control_variate = dict(self.control_variate or DEFAULT_CONTROL_VARIATE)
        self.control_variate_optimizer = dict(self.control_variate_optimizer
                                              or DEFAULT_CV_OPTIMIZER)
        self.init = dict(self.init or {})
        unknown = sorted(set(self.init) - set(INIT_KEYS))
        if unknown:
            raise ValueError(f'init: unknown keys {unknown}; allowed keys are '
                             f'{list(INIT_KEYS)}')
        for key, value in self.init.items():
            if key == 'signed_magnitude' and value is None:
                continue  # the signed ops start at `magnitude`
            number = (isinstance(value, (int, float)) and not isinstance(value, bool)
                      and math.isfinite(value))
            if key == 'alpha':
                if not number:
                    raise ValueError(f'init.alpha must be a finite number (the starting '
                                     f'selection logit), got {value!r}')
            elif not number or not 0.0 <= float(value) <= 1.0:
                raise ValueError(f'init.{key} must be a number in [0, 1] (a probability or '
                                 f'a level), got {value!r}')


class PolicyLearner:
    """The policy, its estimator and optimisers, and the search's random draws.

    Args:
        cfg: the options.
        device: the training device (parameters, draws).
        seed: seeds the control variate's initialisation and the generator.
        rank: this process's rank (its generator stream).
        space: the ops and sub-policies searched (:class:`~dada_mm.search_space.SearchSpace`).
    """

    def __init__(self, cfg: LearnerConfig, device: torch.device, seed: int,
                 rank: int = 0, space: SearchSpace = DADA_SEARCH_SPACE) -> None:
        self.cfg, self.device, self.space = cfg, device, space
        self.policy = PolicyParameters(num_sub_policies=space.num_sub_policies,
                                       alpha_init=cfg.init.get('alpha', 1e-3),
                                       prob_init=cfg.init.get('prob', 0.5),
                                       magnitude_init=initial_magnitudes(cfg.init, space)
                                       ).to(device)
        # the control variate starts identical on every rank (fixed seed, CPU init)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.control_variate = RelaxControlVariate(
                **{'num_sub_policies': space.num_sub_policies, **cfg.control_variate})
        self.control_variate.to(device)
        self.optimizer = OPTIMIZERS.build(dict(cfg.policy_optimizer,
                                               params=list(self.policy.parameters())))
        self.cv_optimizer = OPTIMIZERS.build(dict(
            cfg.control_variate_optimizer, params=list(self.control_variate.parameters())))
        self.op_sharing = (OpSharing(cfg.policy_optimizer, op_table=space.pairs,
                                     num_ops=space.num_ops).to(device)
                           if cfg.share_ops else None)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed * 1000003 + rank)
        self.estimator = build_estimator(cfg.estimator, **cfg.estimator_options)
        self.reward_scaler = RewardScaler() if cfg.reward_normalization == 'rms' else None
        self._op_table = torch.tensor(space.pairs, dtype=torch.long, device=device)
        self.rank_generators: Optional[List[Tensor]] = None
        self.updates = 0
        self.skipped_updates = 0

    # ------------------------------------------------------------------ draws
    def sample(self, batch: int) -> PolicySample:
        """One policy draw per image (detached: only the hard draw is used here)."""
        return sample_policy(self.policy, batch, self.generator, tau=self.cfg.temperature,
                             requires_grad=False)

    def op_indices(self, sample: PolicySample) -> Tensor:
        """[B, 2] op indices (into ``space.op_names``) of the drawn sub-policies."""
        return self.op_indices_of(sample.k)

    def op_indices_of(self, k: Tensor) -> Tensor:
        """The two op indices of sub-policies ``k`` (any shape -> shape + (2,))."""
        return self._op_table[k]

    def levels(self, sample: PolicySample) -> Tensor:
        """[B, 2] levels of the drawn sub-policies, in [0, 1]; differentiable in m."""
        return self.policy.clamped_magnitudes()[sample.k]

    def signs_and_centers(self, batch: int) -> Tuple[Tensor, Tensor]:
        """Per image and op: the sign of a signed op's level (+-1, [B, 2]) and a Cutout
        centre in [0, 1)^2 ([B, 2, 2])."""
        signs = torch.where(torch.rand(batch, 2, generator=self.generator,
                                       device=self.device) < 0.5, 1.0, -1.0)
        centers = torch.rand(batch, 2, 2, generator=self.generator, device=self.device)
        return signs, centers

    # ------------------------------------------------------------------ update
    def _parameters(self) -> List[Tensor]:
        return list(self.policy.parameters()) + list(self.control_variate.parameters())

    def step(self, reward: PolicyReward, sample: PolicySample) -> Dict[str, float]:
        """One update of alpha, p, m and the control variate from the rewards of
        ``sample``; returns the scalars to log. Raises :class:`SkipPolicyUpdate` (the
        gradients are left on the parameters: call :meth:`skip`)."""
        rewards, grad_m = reward.per_image, reward.grad_magnitudes
        if self.reward_scaler is not None:
            mean_square = rank_mean(self.reward_scaler.mean_square(rewards), self.device)
            scale = self.reward_scaler.scale(mean_square)
            rewards, grad_m = rewards * scale, grad_m * scale
        for p in self._parameters():
            p.grad = None
        estimate = self.estimator(rewards, sample, self.policy, self.control_variate)
        estimate.apply_to(self.policy, self.control_variate)
        if estimate.grad_magnitudes is None:  # else the estimator scored the levels itself
            self.policy.magnitudes.grad = grad_m.detach().clone()
        else:
            grad_m = estimate.grad_magnitudes
        grads = [p.grad for p in self._parameters() if p.grad is not None]
        # one device-to-host read for all gradients (one sync on a GPU, not one each)
        finite = bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()) \
            if grads else True
        if not all_ranks(finite, self.device):
            raise SkipPolicyUpdate('non-finite policy gradient')
        if get_dist_info()[1] > 1:
            for g in grads:
                all_reduce(g, op='mean')
        if self.op_sharing is not None:
            self.op_sharing.step(self.policy)
            if self.cfg.p_m_per == 'op':  # p and m move by their per-op offsets alone
                self.policy.probs.grad = self.policy.magnitudes.grad = None
        self.optimizer.step()
        self.cv_optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.cv_optimizer.zero_grad(set_to_none=True)
        if self.reward_scaler is not None:
            self.reward_scaler.update(mean_square)
        if self.cfg.clamp_after_step:
            with torch.no_grad():
                self.policy.probs.clamp_(0.0, 1.0)
                self.policy.magnitudes.clamp_(0.0, 1.0)
        self.updates += 1
        stats = {key: float(value) for key, value in estimate.stats.items()
                 if isinstance(value, (int, float)) and math.isfinite(value)}
        stats.update(val_loss=reward.val_loss, entropy=float(self.policy.entropy().detach()),
                     h_mean=reward.h_mean, grad_m_norm=float(grad_m.norm()))
        return stats

    def skip(self) -> int:
        """Count a skipped step and drop its gradients; returns the count so far."""
        self.skipped_updates += 1
        for p in self._parameters():
            p.grad = None
        return self.skipped_updates

    # ------------------------------------------------------------------ state
    def gather_generators(self) -> None:
        """Keep every rank's generator state at hand for checkpoints, which only rank 0
        writes (``save_checkpoint`` is master-only, so no collective can run there)."""
        if get_dist_info()[1] > 1:
            self.rank_generators = [
                g.cpu() for g in all_gather(self.generator.get_state().to(self.device))]

    def state_dict(self) -> Dict[str, Any]:
        return dict(
            policy=self.policy.state_dict(),
            control_variate=self.control_variate.state_dict(),
            optimizer=self.optimizer.state_dict(),
            cv_optimizer=self.cv_optimizer.state_dict(),
            op_sharing=None if self.op_sharing is None else self.op_sharing.state_dict(),
            reward_scaler=(None if self.reward_scaler is None
                           else self.reward_scaler.state_dict()),
            generator=self.generator.get_state(),
            rank_generators=self.rank_generators,
            estimator=self.estimator.state_dict(),
            updates=self.updates,
            skipped_updates=self.skipped_updates)

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.policy.load_state_dict(state['policy'])
        self.control_variate.load_state_dict(state['control_variate'])
        self.optimizer.load_state_dict(state['optimizer'])
        self.cv_optimizer.load_state_dict(state['cv_optimizer'])
        if self.op_sharing is not None and state.get('op_sharing') is not None:
            self.op_sharing.load_state_dict(state['op_sharing'])
        if self.reward_scaler is not None and state.get('reward_scaler') is not None:
            self.reward_scaler.load_state_dict(state['reward_scaler'])
        self._load_generator(state)
        self.estimator.load_state_dict(state['estimator'])
        self.updates = int(state['updates'])
        self.skipped_updates = int(state['skipped_updates'])

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
