"""Moved to :mod:`dada_mm.ops.batched_ops` (the ops package: op table, per-image and batched
appliers, detection op family); this import path stays valid and is the same module."""
import sys

from dada_mm.ops import batched_ops as _moved

sys.modules[__name__] = _moved
