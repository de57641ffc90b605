"""dada_mm: DADA (Differentiable Automatic Data Augmentation) on OpenMMLab.

Layout, in pipeline order: ``ops`` (the op table of the 15 ops and its per-image and
batched appliers) and ``search_space`` (105 sub-policies) -> ``search`` (policy
parameters, estimators, bi-level step, the search hook) -> ``policy`` (policy files and
presets) -> ``transforms`` (``DADAAugment``).

Importing the package registers everything in MMEngine's root registries, so it is
buildable under ``default_scope='mmpretrain'`` and ``'mmdet'`` alike, and allow-lists the
types of MMEngine checkpoints for torch's safe loading; for that it also changes how
mmengine's ``HistoryBuffer`` pickles (``utils/safe_checkpoint.py`` says how and why).
"""
from .utils.safe_checkpoint import register_checkpoint_safe_globals

register_checkpoint_safe_globals()

from . import policy, search_space  # noqa: E402
from .datasets import ClassCountCheckHook, HeldOutSplit, ReducedSearchSplit  # noqa: E402
from .search import DADASearchHook, PaperDADASearchHook  # noqa: E402
from .transforms import DADAAugment  # noqa: E402

__version__ = '0.1.0'
__all__ = ['ClassCountCheckHook', 'DADAAugment', 'DADASearchHook', 'PaperDADASearchHook',
           'HeldOutSplit',
           'ReducedSearchSplit', 'search_space', 'policy', '__version__']
