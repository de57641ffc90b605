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

A file given to ``tools/train.py --resume`` is checked first
(:func:`check_resume_checkpoint`): a file that is not a checkpoint the runner can resume
from (not written by ``torch.save``, damaged, holding refused objects, or a plain state
dict) ends in :class:`CheckpointFileError`, which names the file and the reason. torch's
own message would advise re-running ``torch.load`` with ``weights_only=False``; that
advice is never repeated, and safe loading is never turned off.
"""
from __future__ import annotations

import os
import re
import zipfile
from typing import Any, List

import numpy as np
import torch

__all__ = ['CheckpointFileError', 'check_resume_checkpoint', 'checkpoint_safe_globals',
           'register_checkpoint_safe_globals']

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


class CheckpointFileError(ValueError):
    """A file that is not a loadable checkpoint; the message names the file and why."""


#: what ``Runner.resume`` reads from a checkpoint (mmengine 0.10.7)
RESUME_KEYS = ('meta', 'state_dict', 'message_hub')

_RESUME_HINT = ('--resume needs a checkpoint that MMEngine\'s CheckpointHook wrote '
                '(work_dir/epoch_N.pth or iter_N.pth); --resume without a path takes the '
                'latest one in the work_dir')


def _load_weights_only(path: str) -> Any:
    """``torch.load`` as safe as a resume's, on the CPU; a zip archive (every
    ``torch.save`` since torch 1.6) is memory-mapped, so its tensors are not read."""
    if zipfile.is_zipfile(path):
        return torch.load(path, map_location='cpu', weights_only=True, mmap=True)
    return torch.load(path, map_location='cpu', weights_only=True)


def _why_not_loadable(path: str, error: BaseException) -> str:
    """The cause of a failed safe load, in words, without torch's advice to load with
    ``weights_only=False``."""
    text = str(error)
    if os.path.getsize(path) == 0:
        return 'the file is empty'
    refused = re.search(r'GLOBAL ([\w.]+)', text)
    if refused:
        name = refused.group(1)
        why = (f'it holds a pickled {name}, which safe loading (weights_only=True) refuses; '
               'only tensors, containers, numbers and the types of '
               'dada_mm.utils.safe_checkpoint.checkpoint_safe_globals() are loaded')
        if name in ('getattr', 'builtins.getattr'):
            why += ('. A checkpoint written by a process that did not import dada_mm '
                    'holds getattr in its message hub (see dada_mm/utils/safe_checkpoint.py)')
        return why
    with open(path, 'rb') as f:
        zip_magic = f.read(4) == b'PK\x03\x04'  # how torch tells its archives
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if not any(name.endswith('/data.pkl') for name in archive.namelist()):
                return 'it is a zip archive that torch.save did not write (no data.pkl)'
    if zip_magic or zipfile.is_zipfile(path):
        return 'it is a damaged zip archive (truncated, or changed after it was saved)'
    detail = re.search(r'WeightsUnpickler error:\s*(.+?)\s*(\n|$)', text)
    return 'it is not a file written by torch.save' + (
        f' (unpickling stopped at: {detail.group(1)[:200]})' if detail else '')


def check_resume_checkpoint(path: str, option: str = '--resume') -> None:
    """Refuse ``path`` with :class:`CheckpointFileError` unless ``Runner.resume`` can read
    it: a file ``torch.save`` wrote, loadable with ``weights_only=True``, holding a dict
    with :data:`RESUME_KEYS` (``meta`` with ``epoch`` and ``iter``). The message names
    ``option`` and the file; it never suggests ``weights_only=False``."""
    where = f'{option}: {path!r} is not a loadable checkpoint'
    try:
        checkpoint = _load_weights_only(path)
    except Exception as e:  # noqa: BLE001 - any failure is reported, without torch's advice
        raise CheckpointFileError(f'{where}: {_why_not_loadable(path, e)}. '
                                  f'{_RESUME_HINT}') from None
    if not isinstance(checkpoint, dict):
        raise CheckpointFileError(f'{where}: it holds a {type(checkpoint).__name__}, not a '
                                  f'checkpoint dict. {_RESUME_HINT}')
    missing = [key for key in RESUME_KEYS if key not in checkpoint]
    meta = checkpoint.get('meta')
    if not missing:
        missing = [f"meta['{key}']" for key in ('epoch', 'iter')
                   if not (isinstance(meta, dict) and key in meta)]
    if missing:
        keys = [str(k) for k in list(checkpoint)[:8]] + (['...'] if len(checkpoint) > 8
                                                          else [])
        raise CheckpointFileError(
            f'{where}: it has no {", ".join(missing)} (keys: {", ".join(keys) or "none"}), '
            'so it is not a checkpoint the runner wrote (a plain state dict or model '
            'weights?). To start a new run from these weights, set load_from (e.g. '
            f'--cfg-options load_from={path}) instead of --resume. {_RESUME_HINT}')
