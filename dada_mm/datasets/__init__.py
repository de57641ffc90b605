"""Data: dataset splits for the search, and built-in synthetic data sets."""
from .splits import HeldOutSplit, ReducedSearchSplit

__all__ = ['HeldOutSplit', 'ReducedSearchSplit']
