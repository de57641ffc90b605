"""The search hook's settings as data: presets, and how a config's values override them.

``DADASearchHook`` takes three sub-configs: ``estimator`` (``dict(type=name, **options)``,
from ``DADA_ESTIMATORS``), ``reward`` (``dict(type='BilevelReward', **options)``, from
``DADA_REWARDS``) and ``learner`` (a plain dict: the policy, how it is learnt, seeded,
started, written and logged; keys :data:`LEARNER_KEYS`). A preset (:data:`SEARCH_PRESETS`)
fills all three; a config's values go over it, sub-config by sub-config:

* ``estimator`` / ``reward``: the same ``type`` as the preset's, or none, adds its options
  over the preset's; another type replaces the preset's (its options belong to another
  class).
* ``learner``: each key given replaces the preset's value (a dict value, such as
  ``policy_optimizer``, as a whole), except ``init``, whose keys go over the preset's
  one by one (``init=dict(prob=0.3)`` keeps the other starting values).

The hook's deprecated flat keywords (``temperature=...``, ``order=...``) map into the
sub-config that holds them (:data:`MOVED`), with a DeprecationWarning.
"""
from __future__ import annotations

import copy
from types import MappingProxyType
from typing import Any, Dict, Mapping, Optional, Sequence, Union

from ..utils.deprecation import moved_argument
from .learner import DEFAULT_CONTROL_VARIATE, DEFAULT_CV_OPTIMIZER, DEFAULT_POLICY_OPTIMIZER

__all__ = ['SEARCH_PRESETS', 'LEARNER_CONFIG_KEYS', 'LEARNER_HOOK_KEYS', 'LEARNER_KEYS',
           'REWARD_KEYS', 'MOVED', 'override', 'resolve_settings']

#: keys of ``learner`` that configure ``PolicyLearner`` (``LearnerConfig``'s fields)
LEARNER_CONFIG_KEYS = ('temperature', 'reward_normalization', 'share_ops', 'p_m_per',
                       'policy_optimizer', 'control_variate', 'control_variate_optimizer',
                       'init', 'clamp_after_step')
#: keys of ``learner`` the hook reads itself: when the policy starts learning, the seed
#: of its draws, the images it acts on, and where it is written and logged
LEARNER_HOOK_KEYS = ('search_begin', 'seed', 'channel_order', 'policy_file', 'history_file',
                     'log_top', 'search_space', 'export_weighting')
LEARNER_KEYS = LEARNER_CONFIG_KEYS + LEARNER_HOOK_KEYS
#: ``BilevelReward``'s options
REWARD_KEYS = ('order', 'reward_baseline', 'credit', 'fd_epsilon', 'hypergrad_scale',
               'held_out_norm', 'magnitude_grad', 'fixed_val_batch', 'warp')
#: keys that were never flat keywords of ``DADASearchHook``
_ONLY_IN_SUB_CONFIGS = ('warp', 'search_space', 'export_weighting')
#: flat keyword of ``DADASearchHook`` -> the sub-config that holds it (same key)
MOVED = MappingProxyType({**{key: 'reward' for key in REWARD_KEYS
                             if key not in _ONLY_IN_SUB_CONFIGS},
                          **{key: 'learner' for key in LEARNER_KEYS
                             if key not in _ONLY_IN_SUB_CONFIGS}})
#: flat keywords renamed as well as moved: old name -> (sub-config, key)
_RENAMED = {'project': ('learner', 'clamp_after_step')}


def _typed(field: str, base: Dict, given: Union[str, Dict]) -> Dict:
    if isinstance(given, str) and field == 'estimator':
        return dict(type=given)  # the name alone: the estimator with its defaults
    if not isinstance(given, dict):
        raise ValueError(f'{field} must be a dict(type=..., **options), got {given!r}')
    # without a type, the options go over the preset's (as a child config's dict goes
    # over its _base_'s)
    return dict(given) if 'type' in given else dict(given, type=base['type'])


def _over_typed(field: str, base: Dict, given: Union[str, Dict]) -> Dict:
    given = _typed(field, base, given)
    return {**base, **given} if given['type'] == base['type'] else given


def _over_learner(base: Dict, given: Dict) -> Dict:
    if not isinstance(given, dict):
        raise ValueError(f'learner must be a dict with keys from {list(LEARNER_KEYS)}, got '
                         f'{given!r}')
    for key in given:
        if key not in LEARNER_KEYS:
            hint = ''
            if key in REWARD_KEYS:
                hint = f" ({key} belongs in reward=dict(type='BilevelReward', {key}=...))"
            elif key == 'estimator':
                hint = ' (estimator is an argument of its own: estimator=dict(type=...))'
            raise ValueError(f'learner has no key {key!r}{hint}; its keys: '
                             f'{list(LEARNER_KEYS)}')
    out = {**base, **given}
    if isinstance(given.get('init'), dict) and isinstance(base.get('init'), dict):
        # the starting values merge key by key: init=dict(prob=0.3) keeps the other starts
        out['init'] = {**base['init'], **given['init']}
    return out


def override(preset: Mapping[str, Any], estimator: Union[None, str, Dict] = None,
             reward: Optional[Dict] = None, learner: Optional[Dict] = None) -> Dict:
    """A copy of ``preset`` with the given sub-configs over it (None: the preset's)."""
    out = copy.deepcopy(dict(preset))
    if estimator is not None:
        out['estimator'] = _over_typed('estimator', out['estimator'], estimator)
    if reward is not None:
        out['reward'] = _over_typed('reward', out['reward'], reward)
    if learner is not None:
        out['learner'] = _over_learner(out['learner'], learner)
    return copy.deepcopy(out)


_DEFAULT = dict(
    estimator=dict(type='candidates'),
    reward=dict(type='BilevelReward', order='second', reward_baseline='clean',
                credit='batch', fd_epsilon=0.01, hypergrad_scale='lr',
                held_out_norm='running', magnitude_grad='straight_through',
                fixed_val_batch=False, warp='pil'),
    learner=dict(temperature=0.5, reward_normalization='rms', share_ops=True,
                 p_m_per='sub_policy', policy_optimizer=dict(DEFAULT_POLICY_OPTIMIZER),
                 control_variate=dict(DEFAULT_CONTROL_VARIATE),
                 control_variate_optimizer=dict(DEFAULT_CV_OPTIMIZER),
                 init=dict(alpha=1e-3, prob=0.5, magnitude=0.5), clamp_after_step=True,
                 search_begin=0, seed=None, channel_order='bgr', search_space='dada',
                 policy_file='dada_policy.json', history_file='dada_search_history.json',
                 log_top=5, export_weighting='uniform'))

#: ``preset`` -> the estimator, reward and learner sub-configs it fills.
#: 'default': the settings chosen on the policy-quality benchmark (candidate scoring, the
#: held-out loss in eval mode, the clean-image baseline, batch credit, per-op sharing,
#: policy lr 0.01, the RMS-normalised reward). 'paper': the paper's (the official code's,
#: less its documented faults: the hyper-gradient keeps DARTS' learning-rate factor and p,
#: m are clamped after each step): RELAX with per-image credit, no baseline, no per-op
#: sharing, no reward normalisation, the held-out loss in train mode, Adam lr 0.005 for the
#: policy and the default-initialised control variate.
SEARCH_PRESETS = MappingProxyType(dict(
    default=_DEFAULT,
    paper=override(
        _DEFAULT, estimator=dict(type='relax'),
        reward=dict(type='BilevelReward', held_out_norm='batch', reward_baseline=None,
                    credit='image'),
        learner=dict(reward_normalization=None, share_ops=False,
                     policy_optimizer=dict(type='Adam', lr=0.005, betas=(0.5, 0.999),
                                           weight_decay=0.0),
                     control_variate=dict(hidden=100, zero_init=False),
                     control_variate_optimizer=dict(type='Adam', lr=0.005,
                                                    betas=(0.5, 0.999), weight_decay=0.0)))))


def resolve_settings(owner: str, preset: str, estimator: Union[None, str, Dict] = None,
                     reward: Optional[Dict] = None, learner: Optional[Dict] = None,
                     flat: Optional[Dict] = None, arguments: Sequence[str] = ()) -> Dict:
    """The estimator, reward and learner sub-configs of ``owner``: ``preset``'s, with the
    given ones over them, and the deprecated ``flat`` keywords mapped into them (warned
    about; a TypeError names a keyword that is neither, listing ``arguments``)."""
    if preset not in SEARCH_PRESETS:
        raise ValueError(f'{owner}: preset must be one of {list(SEARCH_PRESETS)}, got '
                         f'{preset!r}')
    settings = override(SEARCH_PRESETS[preset], estimator, reward, learner)
    given = dict(reward=reward or {}, learner=learner or {})
    flat = dict(flat or {})
    for old, value in flat.items():
        if old in _RENAMED:
            part, key = _RENAMED[old]
            value = bool(value)
        elif old in MOVED:
            part, key = MOVED[old], old
        else:
            raise TypeError(f'{owner} got an unexpected keyword argument {old!r}; its '
                            f'arguments: {list(arguments)}; the keys of reward: '
                            f'{list(REWARD_KEYS)}; of learner: {list(LEARNER_KEYS)}')
        twice = key in given[part] or (key != old and key in flat)
        if twice:
            raise ValueError(f'{owner}: {key} is given twice: as {old}=... and in '
                             f'{part}=dict({key}=...); keep the latter')
        use = (f"reward=dict(type={settings['reward']['type']!r}, {key}=...)"
               if part == 'reward' else f'{part}=dict({key}=...)')
        value = moved_argument(owner, old, use, value, stacklevel=5)
        if key == 'init' and isinstance(value, dict):
            value = {**settings[part].get('init', {}), **value}  # key by key, as learner=
        settings[part][key] = value
    return settings
