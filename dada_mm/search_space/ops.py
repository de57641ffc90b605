"""Moved to :mod:`dada_mm.ops.table` (the ops package: op table, per-image and batched
appliers, detection op family); this import path stays valid and is the same module."""
import sys

from dada_mm.ops import table as _moved

sys.modules[__name__] = _moved
