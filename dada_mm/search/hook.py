"""`DADASearchHook`: learn a DADA policy while a stock mmpretrain classifier trains.

Lifecycle glue, one pass per iteration in DARTS order: ``before_train_iter`` augments the
batch with per-image policy draws (``augment.py``) for the runner's unchanged training
step (the unrolled step); ``after_train_iter`` turns the draws' per-image rewards
(``bilevel_reward.py``) into one policy step (``learner.py``). After ``search_epochs`` the
top-k policy is frozen (``dada_mm.policy.export``) and augments the rest of training, so
one config yields both a policy file and a network pretrained with it.
"""
from __future__ import annotations

import copy
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple, Union

from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.registry import HOOKS

from ..policy import (
    EXPORT_WEIGHTINGS,
    FrozenPolicySampler,
    export_meta,
    export_top_k,
    export_weights,
    save_policy_file,
)
from ..search_space import DETECTION_FAMILY, get_search_space
from ..search_space.channels import check_channel_order
from .augment import augment_batch, stack_inputs, write_back_inputs
from .bilevel import unwrap_model
from .bilevel_reward import BilevelReward, StepInput
from .detection import (
    augment_detection_step,
    check_detector_search,
    is_detector,
    score_detection_candidates,
)
from .estimators import build_estimator
from .gradient_matching import check_logit_layer, resolve_reward
from .held_out import HeldOutStream, random_transforms
from .history import SearchHistory, epoch_summary
from .learner import LearnerConfig, PolicyLearner, SkipPolicyUpdate
from .presets import LEARNER_CONFIG_KEYS, SEARCH_PRESETS, resolve_settings
from .registry import DADA_REWARDS

__all__ = ['DADASearchHook', 'PaperDADASearchHook', 'PAPER_SETTINGS', 'search_log_keys',
           'LOG_KEYS_ON_SKIP']

OptDict = Optional[Dict]
#: the arguments of ``DADASearchHook`` (its signature; deprecated flat keywords aside)
_ARGUMENTS = ('val_dataloader', 'search_epochs', 'update_interval', 'top_k', 'preset',
              'estimator', 'reward', 'learner')

# checkpoint['dada_search'] keys, in the order they have always been written
_STATE_KEYS = ('policy', 'control_variate', 'optimizer', 'cv_optimizer', 'op_sharing',
               'reward_scaler', 'generator', 'rank_generators', 'val_stream', 'estimator',
               'frozen_policy', 'history', 'updates', 'skipped_updates', 'frozen_weights')

# The scalars a policy update logs (``train/dada_<key>`` in the message hub), by the
# settings they depend on; docs/search_logs.md explains each, and a test checks that the
# two agree. Not logged, although the estimators compute them: ``batch_variance`` (always
# ``per_sample_variance / B``) and REINFORCE's ``baseline`` (0: the hook builds REINFORCE
# without a moving-average baseline).
_LOG_KEYS = ('val_loss', 'h_mean', 'reward_mean', 'per_sample_variance', 'grad_norm',
             'grad_m_norm', 'entropy')
_LOG_KEYS_BY_ESTIMATOR = dict(relax=('cv_z', 'cv_z_tilde', 'variance_loss'), reinforce=(),
                              gumbel_st=(), candidates=('clean_reward_mean', 'augment_gain'))
# under credit='batch' every image gets the batch reward: their spread is 0 by construction
_LOG_KEYS_BY_CREDIT = dict(image=('reward_std', ), batch=())
#: what an iteration whose policy update was skipped logs instead (the count so far)
LOG_KEYS_ON_SKIP = ('skipped_updates', )


def search_log_keys(estimator: str, credit: str) -> Tuple[str, ...]:
    """The keys ``k`` of the scalars ``train/dada_<k>`` that a policy update logs with
    these settings of ``DADASearchHook`` (a skipped update logs :data:`LOG_KEYS_ON_SKIP`).
    """
    return (_LOG_KEYS + _LOG_KEYS_BY_CREDIT[credit]
            + _LOG_KEYS_BY_ESTIMATOR.get(estimator, ()))


@HOOKS.register_module()
class DADASearchHook(Hook):
    """Differentiable augmentation policy search, as a hook.

    Plain arguments hold what a search is set up with; ``estimator``, ``reward`` and
    ``learner`` are the parts a researcher swaps or tunes, each a sub-config that
    ``preset`` fills and the config's values go over (``search/presets.py`` has the rule
    and the presets as data). ``learner`` also holds the rarely changed settings of the
    policy's side (its seed, start, channel order, files, log) so that the signature stays
    at eight arguments; the reward and the estimator keep only their own options.

    Args:
        val_dataloader: dataloader config of the held-out (search-val) split; its pipeline
            should not augment (the paper: resize + centre crop only): random transforms
            in it (``held_out.random_transforms``) are named in a warning.
        search_epochs: epochs during which the policy is learned (None: all of them); after
            it the top-k policy is frozen and used to augment the rest of training. More
            than the run's ``max_epochs`` is warned about at ``before_train``.
        update_interval: update the policy every n iterations (the others only augment).
        top_k: sub-policies written to the policy file and used after the search (25 in
            the paper).
        preset: the settings the sub-configs start from (``presets.SEARCH_PRESETS``):
            'default' (candidate scoring with the held-out loss in eval mode, the
            clean-image baseline, batch credit, per-op sharing, policy lr 0.01, the
            RMS-normalised reward: they find more planted shifts than the paper's settings
            on the policy-quality benchmark, docs/benchmarks.md) or 'paper' (RELAX with
            the paper's settings, ``PaperDADASearchHook``).
        estimator: ``dict(type=name, **options)`` from ``DADA_ESTIMATORS``: 'candidates'
            (``search/candidates.py``), 'relax', 'reinforce' or 'gumbel_st'; the name alone
            is the estimator with its defaults. None: the preset's.
        reward: ``dict(type='BilevelReward', **options)`` from ``DADA_REWARDS`` (options:
            ``bilevel_reward.BilevelReward``). None: the preset's. A dict without ``type``
            (here and for ``estimator``) puts its options over the preset's.
        learner: dict with keys from ``LEARNER_KEYS``: ``temperature``,
            ``reward_normalization``, ``share_ops``, ``p_m_per``, ``policy_optimizer``,
            ``control_variate``, ``control_variate_optimizer``, ``init``,
            ``clamp_after_step`` (``learner.LearnerConfig``), and ``search_begin`` (warm-up
            epochs without policy or updates), ``seed`` (of the search's draws; None: the
            runner's), ``channel_order`` (of the training images), ``policy_file``,
            ``history_file`` (names in the work_dir), ``log_top`` (sub-policies logged per
            search epoch), ``export_weighting`` (how the top-k are drawn after the search
            and by ``DADAAugment`` from the policy file: 'uniform', with equal chance as
            in the paper, or 'selection', by their learnt selection weights, written to
            the file's ``weights``), ``search_space`` ('dada', the 15 DADA ops and their 105
            pairs; or 'zoph-detection', the 25 ops of Zoph et al.'s detection family,
            box-only ops included, and their 300 pairs: a detector's search only, whose
            policy file ``DADAAugment`` applies as a ``zoph-det-*`` preset). None: the
            preset's.

    The deprecated flat keywords (``temperature=0.3``, ``order='first'``, ``project=...``)
    are accepted into the sub-config that holds them, with a DeprecationWarning naming it
    (``presets.MOVED``).
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, val_dataloader: Optional[Dict] = None,
                 search_epochs: Optional[int] = None, update_interval: int = 1,
                 top_k: int = 25, preset: str = 'default',
                 estimator: Union[None, str, Dict] = None, reward: OptDict = None,
                 learner: OptDict = None, **deprecated) -> None:
        if val_dataloader is None:
            raise ValueError('DADASearchHook needs `val_dataloader`: the held-out '
                             '(search-val) split the policy is optimised on')
        if search_epochs is not None and search_epochs < 0:
            raise ValueError(f'search_epochs must be >= 0, got {search_epochs}')
        self.preset = preset
        #: the estimator, reward and learner sub-configs the hook was built from
        self.settings = resolve_settings(
            'DADASearchHook', preset, estimator, reward, learner, deprecated,
            arguments=_ARGUMENTS)
        learner = self.settings['learner']
        search_begin = learner['search_begin']
        if (not isinstance(search_begin, int) or isinstance(search_begin, bool)
                or search_begin < 0):
            raise ValueError(f'search_begin must be an int >= 0 (the epoch the policy '
                             f'updates start at), got {search_begin!r}')
        if search_epochs is not None and search_begin >= max(search_epochs, 1):
            raise ValueError(f'search_begin={search_begin} must be below search_epochs='
                             f'{search_epochs}: the search would never update the policy')
        self.bilevel_reward: BilevelReward = DADA_REWARDS.build(self.settings['reward'])
        self.learner_cfg = LearnerConfig(
            estimator=self.settings['estimator'],
            **{key: learner[key] for key in LEARNER_CONFIG_KEYS})
        order = self.bilevel_reward.order
        if self.learner_cfg.estimator == 'candidates' and order != 'second':
            raise ValueError("DADASearchHook(estimator='candidates', the default) scores its "
                             "candidates by central differences around w_t: it needs "
                             f"order='second', got order={order!r}; order='first' works "
                             "with estimator='relax', 'reinforce' or 'gumbel_st'")
        self.channel_order = check_channel_order(learner['channel_order'], 'DADASearchHook')
        self.val_dataloader_cfg, self.search_epochs = val_dataloader, search_epochs
        self.search_begin = search_begin
        self.update_interval, self.top_k = int(update_interval), int(top_k)
        self.policy_file, self.history_file = learner['policy_file'], learner['history_file']
        self.log_top, self.seed = int(learner['log_top']), learner['seed']
        self.export_weighting = learner['export_weighting']
        if self.export_weighting not in EXPORT_WEIGHTINGS:
            raise ValueError(f'learner.export_weighting must be one of '
                             f'{list(EXPORT_WEIGHTINGS)}, got {self.export_weighting!r}')
        self.learner: Optional[PolicyLearner] = None
        self.frozen_policy, self._frozen_sampler = None, None
        #: the frozen policy's draw weights (None: equal chances)
        self.frozen_weights: Optional[List[float]] = None
        #: the ops and sub-policies searched: the 15 DADA ops and their 105 pairs, or the
        #: detection family's 25 ops and their 300 pairs (detectors only)
        self.search_space = get_search_space(learner['search_space'])
        self.history = SearchHistory(self.search_space)
        self._pending_state: Optional[Dict] = None
        self._step_input: Optional[StepInput] = None
        #: the model is an mmdet detector (set when the search is built)
        self._detection = False

    @property
    def magnitude_grad(self) -> str:
        """How the levels get their gradient through the ops (the reward's setting)."""
        return self.bilevel_reward.magnitude_grad

    @property
    def fixed_val_batch(self) -> bool:
        """Whether every step reuses the first held-out batch (the reward's setting)."""
        return self.bilevel_reward.fixed_val_batch

    # the search state most readers want, from the learner
    policy = property(lambda self: self.learner.policy)
    updates = property(lambda self: self.learner.updates)
    skipped_updates = property(lambda self: self.learner.skipped_updates)

    def _build(self, runner) -> None:
        if self.learner is not None:
            return
        model = unwrap_model(runner.model)
        self._detection = is_detector(model)
        self._resolve_candidate_reward(model)
        if self._detection:
            check_detector_search(self.learner_cfg.estimator,
                                  self.learner_cfg.estimator_options, self.bilevel_reward.order)
        elif self.search_space.family == DETECTION_FAMILY:
            raise ValueError(f"DADASearchHook(learner=dict(search_space="
                             f"{self.search_space.name!r})) searches the detection family's "
                             "ops, whose box ops need a detector's boxes; "
                             f"{type(model).__name__} is not an mmdet detector: use "
                             "search_space='dada'")
        self.bilevel_reward.check_model(runner, model)
        if (not self._detection and self.learner_cfg.estimator == 'candidates'
                and self.learner_cfg.estimator_options.get('reward') == 'match'):
            check_logit_layer(model)
        self.device = next(model.parameters()).device
        seed = runner.seed if self.seed is None else self.seed
        seed = 0 if seed is None else int(seed)
        rank, world_size = get_dist_info()
        self.learner = PolicyLearner(self.learner_cfg, self.device, seed, rank,
                                     space=self.search_space)
        self.val_stream = HeldOutStream(self.val_dataloader_cfg, seed=seed,
                                        fixed=self.fixed_val_batch, rank=rank,
                                        world_size=world_size)
        self._check_held_out_pipeline(runner)
        if self._pending_state is not None:
            self._load_state(*self._pending_state)
            self._pending_state = None

    def _resolve_candidate_reward(self, model) -> None:
        """Turn the candidate estimator's ``reward='auto'`` into the reward this model gets
        (``gradient_matching.resolve_reward``) before the estimator is built, and log the
        choice with its reason."""
        cfg = self.learner_cfg
        if cfg.estimator != 'candidates':
            return
        options = cfg.estimator_options
        built = build_estimator('candidates', **options)  # its defaults for unset options
        reward, why = resolve_reward(built.reward, model, self._detection, built.norm)
        if built.reward == 'auto':
            cfg.estimator_options = dict(options, reward=reward)
            MMLogger.get_current_instance().info(
                f"DADASearchHook: candidate reward 'auto' -> {reward!r} ({why})")

    def _check_held_out_pipeline(self, runner) -> None:
        """Warn when the held-out pipeline may draw random numbers: the policy is
        optimised on the held-out loss, which must not change from draw to draw."""
        found = random_transforms(self.val_dataloader_cfg)
        if found:
            runner.logger.warning(
                f'DADASearchHook: the held-out val_dataloader has random transforms in its '
                f'pipeline: {", ".join(found)}. The held-out loss the policy is optimised on '
                f'should be deterministic: use a test-style pipeline (load, resize, centre '
                f'crop, pack; the paper: resize + centre crop only), without crops, flips '
                f'or augmentation')

    def _check_schedule(self, runner) -> None:
        """Warn when ``search_epochs`` exceeds the epochs the run trains."""
        from mmengine.runner import EpochBasedTrainLoop
        if self.search_epochs is None or not isinstance(runner.train_loop,
                                                        EpochBasedTrainLoop):
            return
        max_epochs = runner.train_loop.max_epochs
        if self.search_epochs > max_epochs:
            runner.logger.warning(
                f'DADASearchHook: search_epochs={self.search_epochs} is greater than '
                f'max_epochs={max_epochs} (train_cfg.max_epochs): the policy is searched '
                f'during all {max_epochs} epoch(s) and never frozen, so no epoch trains '
                f'with the frozen policy, and {self.policy_file} holds the policy as the '
                f'search left it. Set search_epochs <= max_epochs (None: search during '
                f'the whole run)')

    def before_run(self, runner) -> None:
        self._build(runner)

    def before_train(self, runner) -> None:
        self._build(runner)
        self._check_schedule(runner)
        if not self.searching(runner) and self.frozen_policy is None:
            self._freeze(runner, runner.epoch)

    def searching(self, runner) -> bool:
        return self.search_epochs is None or runner.epoch < self.search_epochs

    # ------------------------------------------------------------------ train loop
    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._build(runner)
        if data_batch is None:
            return
        if runner.epoch < self.search_begin:
            return  # warm-up: the network trains on its batches as loaded, no policy yet
        searching = self.searching(runner)
        update = searching and (runner.iter + 1) % self.update_interval == 0
        model = unwrap_model(runner.model)
        if self._detection:
            images, originals = augment_detection_step(
                data_batch, self.learner, None if searching else self._frozen_sampler,
                update, self.channel_order, self.bilevel_reward.warp, self.device)
            self._step_input = (StepInput.before_step(model, runner.optim_wrapper, None, images,
                                                      None, originals) if update else None)
            return
        images = stack_inputs(data_batch['inputs'], self.device)
        augmented, sample = augment_batch(
            images, self.learner, None if searching else self._frozen_sampler, update,
            self.channel_order, self.magnitude_grad, self.bilevel_reward.warp)
        if update and self.bilevel_reward.order == 'first':
            self.bilevel_reward.capture_base_point(model, data_batch, augmented)
        else:
            write_back_inputs(data_batch, augmented)
        self._step_input = (StepInput.before_step(model, runner.optim_wrapper, augmented,
                                                  images, sample, data_batch['data_samples'])
                            if update else None)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        self.learner.gather_generators()
        step_input, self._step_input = self._step_input, None
        if step_input is None:
            return
        for key, value in self._policy_step(runner, step_input).items():
            runner.message_hub.update_scalar(f'train/dada_{key}', value)

    @property
    def log_keys(self) -> Tuple[str, ...]:
        """The keys of the scalars a policy update logs (``train/dada_<key>``)."""
        return search_log_keys(self.learner_cfg.estimator, self.bilevel_reward.credit)

    def _policy_step(self, runner, step: StepInput) -> Dict[str, float]:
        try:
            if self._detection:
                reward, candidates = score_detection_candidates(
                    self.bilevel_reward, unwrap_model(runner.model), step,
                    self.val_stream.next(), self.learner, self.channel_order)
                stats = self.learner.step(reward, candidates)
            elif getattr(self.learner.estimator, 'needs_candidates', False):
                reward, candidates = self.bilevel_reward.score_candidates(
                    unwrap_model(runner.model), step, self.val_stream.next(), self.learner,
                    self.channel_order)
                stats = self.learner.step(reward, candidates)
            else:
                reward = self.bilevel_reward(unwrap_model(runner.model), step,
                                             self.val_stream.next(), self.policy.magnitudes)
                stats = self.learner.step(reward, step.sample)
            return {key: stats[key] for key in self.log_keys if key in stats}
        except SkipPolicyUpdate as why:
            skipped = self.learner.skip()
            runner.logger.warning(f'DADASearchHook: skipped the policy update at iter '
                                  f'{runner.iter + 1}: {why}; alpha, p and m are unchanged')
            return {'skipped_updates': float(skipped)}

    # ------------------------------------------------------------------ outputs
    def after_train_epoch(self, runner) -> None:
        if self.frozen_policy is not None:
            return
        # runner.epoch is still the 0-based index of the epoch that just finished
        self.history.record(runner.epoch + 1, runner.iter, self.policy)
        runner.logger.info(epoch_summary(self.policy, runner.epoch + 1, self.log_top,
                                         self.search_space))
        if self.search_epochs is not None and runner.epoch + 1 >= self.search_epochs:
            self._freeze(runner, runner.epoch + 1)
        else:
            self._write_policy(runner, runner.epoch + 1)

    def after_train(self, runner) -> None:
        if self.frozen_policy is None:
            self._write_policy(runner, runner.epoch)

    def _exported_weights(self) -> Optional[List[float]]:
        """The top-k's draw weights the policy file carries (None: 'uniform')."""
        if self.export_weighting == 'uniform':
            return None
        return export_weights(self.policy, self.top_k)

    def _freeze(self, runner, epochs_done: int) -> None:
        self.frozen_policy = export_top_k(self.policy, self.top_k, self.search_space)
        self.frozen_weights = self._exported_weights()
        self._frozen_sampler = FrozenPolicySampler(self.frozen_policy, self.device,
                                                   self.search_space, self.frozen_weights)
        _drop_search_scalars(runner.message_hub)
        runner.logger.info(f'DADASearchHook: search finished after {self.search_epochs} '
                           f'epoch(s); training continues with the frozen top-'
                           f'{len(self.frozen_policy)} policy, its sub-policies drawn '
                           + ('with equal chance' if self.frozen_weights is None else
                              'by their selection weights'))
        self._write_policy(runner, epochs_done)

    def _write_policy(self, runner, epochs_done: int) -> None:
        if runner.rank != 0:
            return
        reward, learner_cfg = self.bilevel_reward, self.learner_cfg
        search = dict(
            estimator=learner_cfg.estimator, order=reward.order,
            temperature=learner_cfg.temperature, magnitude_grad=self.magnitude_grad,
            reward_baseline=reward.reward_baseline, credit=reward.credit,
            reward_normalization=learner_cfg.reward_normalization,
            share_ops=learner_cfg.share_ops, p_m_per=learner_cfg.p_m_per,
            held_out_norm=reward.held_out_norm,
            search_epochs=self.search_epochs, search_begin=self.search_begin, top_k=self.top_k,
            export_weighting=self.export_weighting,
            fd_epsilon=reward.fd_epsilon, hypergrad_scale=reward.hypergrad_scale,
            fixed_val_batch=self.fixed_val_batch, updates=self.updates,
            skipped_updates=self.skipped_updates,
            policy_optimizer=copy.deepcopy(learner_cfg.policy_optimizer))
        if learner_cfg.estimator == 'candidates':
            # the reward the candidates were scored by ('auto' resolved for this model)
            search['candidate_reward'] = self.learner.estimator.reward
            search['candidate_signs'] = self.learner.estimator.signs
        meta = export_meta(self.policy, self.top_k, search, epochs_done, runner.iter,
                           frozen=self.frozen_policy is not None, space=self.search_space)
        if self.frozen_policy is not None:
            rows, weights = self.frozen_policy, self.frozen_weights
        else:
            rows = export_top_k(self.policy, self.top_k, self.search_space)
            weights = self._exported_weights()
        path = save_policy_file(osp.join(runner.work_dir, self.policy_file), rows, meta,
                                weights)
        self.history.write(osp.join(runner.work_dir, self.history_file))
        runner.logger.info(f'DADASearchHook: wrote {path}')

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> Dict[str, Any]:
        state = dict(self.learner.state_dict(), val_stream=self.val_stream.state_dict(),
                     frozen_policy=self.frozen_policy, frozen_weights=self.frozen_weights,
                     history=self.history.state_dict())
        return {key: state[key] for key in _STATE_KEYS}

    def _load_state(self, state: Dict[str, Any], source: Optional[str] = None) -> None:
        saved = int(state['policy']['alpha'].numel())
        if saved != self.search_space.num_sub_policies:
            raise ValueError(
                f'DADASearchHook: the checkpoint{"" if source is None else " " + source} '
                f'holds a policy over {saved} sub-policies, but this search\'s '
                f'search_space={self.search_space.name!r} has '
                f'{self.search_space.num_sub_policies}: resume with the search_space the '
                'checkpoint was searched with')
        self.learner.load_state_dict(state)
        self.val_stream.load_state_dict(state['val_stream'])
        self.frozen_policy = state['frozen_policy']
        # a checkpoint without frozen_weights draws its frozen policy with equal chances
        self.frozen_weights = state.get('frozen_weights')
        if self.frozen_policy is not None:
            self._frozen_sampler = FrozenPolicySampler(self.frozen_policy, self.device,
                                                       self.search_space, self.frozen_weights)
        self.history.load_state_dict(state['history'])
        if source is not None:
            MMLogger.get_current_instance().info(self._restored_message(source))

    def _restored_message(self, source: str) -> str:
        """What was restored, and from where (the log line of a resumed search)."""
        entries = self.history.entries
        searched = (f'a history of {len(entries)} search epoch(s) (the last: epoch '
                    f"{entries[-1]['epoch']}, iteration {entries[-1]['iteration']})"
                    if entries else 'no search epoch in the history yet')
        phase = 'the search continues'
        if self.frozen_policy is not None:
            phase = (f'the search is over: its frozen top-{len(self.frozen_policy)} '
                     'policy augments the rest of training')
        return (f'DADASearchHook: restored the search state from {source}: '
                f'{self.updates} policy update(s) ({self.skipped_updates} skipped), '
                f'{self.val_stream.consumed} held-out batch(es) consumed, {searched}; '
                f'{phase}')

    def before_save_checkpoint(self, runner, checkpoint: Dict) -> None:
        self._build(runner)
        checkpoint['dada_search'] = self.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: Dict) -> None:
        state = checkpoint.get('dada_search')
        if state is None:
            runner.logger.warning('DADASearchHook: the checkpoint holds no search state; '
                                  'the policy starts from its initial values')
            return
        source = _checkpoint_source(runner, checkpoint)
        if self.learner is not None:
            self._load_state(state, source)
        else:  # restored when the hook is built (before_run)
            self._pending_state = (state, source)


def _drop_search_scalars(message_hub) -> None:
    """Remove the search's scalars from the message hub when the search ends: the log
    lines of the frozen phase would repeat their last values. MessageHub has no public
    way to remove a scalar; its checkpoint state also lists the key as one to resume, and
    a resume would warn about a listed key that is not there."""
    scalars = message_hub.log_scalars
    for key in [key for key in scalars if key.startswith('train/dada_')]:
        del scalars[key]
        getattr(message_hub, '_resumed_keys', {}).pop(key, None)


def _checkpoint_source(runner, checkpoint: Dict) -> str:
    """'<file> (saved at iteration I, E epoch(s) done)' for the restore message. The
    runner does not hand the file name to the hook: it is ``load_from`` (``--resume
    FILE``), or with auto-resume the work_dir's latest checkpoint, as the runner finds it.
    """
    from mmengine.runner import find_latest_checkpoint
    name = getattr(runner, '_load_from', None)
    if name is None and getattr(runner, '_resume', False):
        name = find_latest_checkpoint(runner.work_dir)
    meta = checkpoint.get('meta') or {}
    where = 'a checkpoint' if name is None else str(name)
    if 'epoch' in meta and 'iter' in meta:
        where += f" (saved at iteration {meta['iter']}, {meta['epoch']} epoch(s) done)"
    return where


#: the paper's settings (``SEARCH_PRESETS['paper']``): the estimator, reward and learner
#: sub-configs of ``preset='paper'``
PAPER_SETTINGS = SEARCH_PRESETS['paper']


@HOOKS.register_module()
class PaperDADASearchHook(DADASearchHook):
    """``DADASearchHook`` with ``preset='paper'``: RELAX, one draw per image with
    per-image credit, no baseline, no per-op sharing, no reward normalisation, the
    held-out loss in train mode, Adam lr 0.005 for the policy and the control variate
    (default-initialised). Any argument still overrides them.
    """

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault('preset', 'paper')
        super().__init__(**kwargs)
