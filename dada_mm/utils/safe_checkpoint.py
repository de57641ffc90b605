"""Let torch>=2.6 (``weights_only=True``) load MMEngine checkpoints without disabling it.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; torch>=2.6 then refuses the
``HistoryBuffer`` objects and numpy scalars/arrays that MMEngine stores in
``meta['message_hub']``. We allow-list exactly those types, once, at ``import dada_mm``.
Everything else stays refused: a checkpoint carrying any other pickled class still fails.

Side effect: ``import dada_mm`` changes how mmengine's ``HistoryBuffer`` pickles
-------------------------------------------------------------------------------------
What: ``register_checkpoint_safe_globals`` replaces ``HistoryBuffer.__getstate__``, for the
whole process, by :func:`_history_buffer_getstate`: buffers (the message hub's logged
scalars, saved in every checkpoint's ``meta['message_hub']``) are pickled without the
four built-in statistics methods ``min``, ``max``, ``current`` and ``mean``.

Why: mmengine's own ``__getstate__`` pickles those methods as
``getattr(HistoryBuffer, 'min')`` ...; a ``weights_only=True`` load would then need
``getattr`` on torch's allow-list, and allow-listing ``getattr`` re-opens arbitrary code
execution. ``HistoryBuffer.__setstate__`` re-creates the four methods on load anyway, so
nothing is lost.

Consequences: checkpoints written after ``import dada_mm`` load with ``weights_only=True``
(after ``import dada_mm``, which allow-lists ``HistoryBuffer``); a trusted
(``weights_only=False``) load reads them anywhere, as before. A statistics method that a
user registered on a buffer is still pickled, so such a checkpoint needs a trusted load,
as do checkpoints written without ``import dada_mm`` (they hold the ``getattr``
references).
"""
from __future__ import annotations

from typing import List

import numpy as np
import torch

__all__ = ['checkpoint_safe_globals', 'register_checkpoint_safe_globals']

_DEFAULT_STATISTICS = ('min', 'max', 'current', 'mean')


def checkpoint_safe_globals() -> List[object]:
    """The types found in the project's MMEngine checkpoints besides tensors/containers."""
    from mmengine.logging import HistoryBuffer

    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [type(np.dtype(t)) for t in (
        np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
        np.uint8, np.uint16, np.uint32, np.uint64, np.bool_)]
    # ``bytes``: the constructor numpy's pickles of empty arrays call (an empty buffer)
    return [HistoryBuffer, scalar, _reconstruct, np.ndarray, np.dtype, bytes,
            *dtype_classes]


def _history_buffer_getstate(self) -> dict:
    """Like mmengine's, minus the built-in statistics methods (re-created on load)."""
    state = dict(self.__dict__)
    state.pop('statistics_methods', None)
    custom = {k: v for k, v in self._statistics_methods.items()
              if k not in _DEFAULT_STATISTICS}
    if custom:
        state['statistics_methods'] = custom
    return state


def register_checkpoint_safe_globals() -> None:
    """Idempotently add :func:`checkpoint_safe_globals` to torch's allow-list, and make
    MMEngine's message-hub buffers picklable without ``getattr``."""
    from mmengine.logging import HistoryBuffer
    HistoryBuffer.__getstate__ = _history_buffer_getstate
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:  # torch < 2.4 has no weights_only allow-list and loads as before
        return
    current = set(map(id, torch.serialization.get_safe_globals()))
    add([g for g in checkpoint_safe_globals() if id(g) not in current])
