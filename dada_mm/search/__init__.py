"""Search: policy parameters, their distribution and gradient estimators, batched ops on
the training device, the one-pass bi-level reward (``bilevel_reward``), the learner that
updates the policy (``learner``), the search history (``history``) and the MMEngine hook
that connects them to a training run (``hook``)."""
from . import candidates  # noqa: F401  (registers the 'candidates' estimator)
from .control_variate import RelaxControlVariate
from .distributions import PolicySample, sample_policy
from .estimators import ESTIMATORS, build_estimator
from .hook import PAPER_SETTINGS, DADASearchHook, PaperDADASearchHook
from .learner import LearnerConfig, PolicyLearner
from .policy_params import PolicyParameters
from .presets import SEARCH_PRESETS
from .registry import DADA_ESTIMATORS, DADA_REWARDS

__all__ = ['RelaxControlVariate', 'PolicySample', 'sample_policy', 'ESTIMATORS',
           'build_estimator', 'DADASearchHook', 'PaperDADASearchHook', 'PAPER_SETTINGS',
           'PolicyParameters', 'PolicyLearner', 'LearnerConfig', 'SEARCH_PRESETS',
           'DADA_ESTIMATORS', 'DADA_REWARDS']
