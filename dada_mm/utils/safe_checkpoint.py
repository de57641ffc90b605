"""Let torch>=2.6 (``weights_only=True``) load MMEngine checkpoints without disabling it.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; torch>=2.6 then refuses the
``HistoryBuffer`` objects and numpy scalars/arrays that MMEngine stores in
``meta['message_hub']``. We allow-list exactly those types, once, at ``import dada_mm``.
Everything else stays refused: a checkpoint carrying any other pickled class still fails.

One more detail: mmengine's ``HistoryBuffer.__getstate__`` pickles its statistics methods
(``HistoryBuffer.min`` ...) as ``getattr(HistoryBuffer, 'min')``. Allow-listing ``getattr``
would re-open arbitrary code execution, so instead buffers are pickled without the four
built-in methods, which ``HistoryBuffer.__setstate__`` re-creates on load anyway. Custom
statistics registered by a user are still pickled (and then need a trusted load).
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
