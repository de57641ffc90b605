"""Search: policy parameters, their distribution and gradient estimators, batched ops on
the training device, the one-pass bi-level step and the MMEngine hook that runs it."""
from .control_variate import RelaxControlVariate
from .distributions import PolicySample, sample_policy
from .estimators import ESTIMATORS, build_estimator
from .hook import DADASearchHook
from .policy_params import PolicyParameters

__all__ = ['RelaxControlVariate', 'PolicySample', 'sample_policy', 'ESTIMATORS',
           'build_estimator', 'DADASearchHook', 'PolicyParameters']
