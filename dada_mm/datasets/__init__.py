"""Data: dataset splits for the search, the class-count check of a config against its
data, and built-in synthetic data sets."""
from .checks import ClassCountCheckHook
from .splits import HeldOutSplit, ReducedSearchSplit

__all__ = ['ClassCountCheckHook', 'HeldOutSplit', 'ReducedSearchSplit']
