"""Atomic file writes: a reader (or a crash) never sees a half-written file.

The text goes to a temporary file in the target's directory, is flushed to disk and then
renamed over the target (``os.replace`` is atomic on POSIX and Windows). If anything
fails on the way the temporary file is removed and the target is left as it was.

Permissions: the temporary file is created as ``open()`` creates any new file, with mode
``0o666`` less the process umask (``0o644`` under the usual umask ``022``, ``0o664``
under ``002``), so the written file is as readable by a team sharing a work_dir as the
run's logs and checkpoints. (``tempfile.mkstemp`` would create it ``0o600`` whatever the
umask.) The target is replaced, not rewritten in place: it gets that mode at every
write, even if an earlier version was given another one by hand.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any, Tuple, Union

__all__ = ['write_text_atomic', 'write_json_atomic']

_CREATE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0)
                 | getattr(os, 'O_BINARY', 0))
_ATTEMPTS = 100


def _create_temp(path: Path) -> Tuple[int, str]:
    """A new, empty file next to ``path`` (a fresh random name, ``O_EXCL``), created with
    mode ``0o666`` so that the kernel applies the umask; returns ``(fd, name)``."""
    for _ in range(_ATTEMPTS):
        tmp = str(path.parent / f'.{path.name}.{secrets.token_hex(6)}.tmp')
        try:
            return os.open(tmp, _CREATE_FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f'could not create a temporary file next to {str(path)!r} '
                          f'({_ATTEMPTS} names taken)')


def write_text_atomic(path: Union[str, os.PathLike], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; creates the parent directories.

    The file gets mode ``0o666 & ~umask``, as a file written with ``open()`` does."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json_atomic(path: Union[str, os.PathLike], obj: Any, end: str = '',
                      **dumps_kwargs: Any) -> Path:
    """``json.dumps(obj, **dumps_kwargs) + end`` written with :func:`write_text_atomic`.

    The text is built before any file is created, so an object that cannot be
    serialised leaves nothing behind either.
    """
    return write_text_atomic(path, json.dumps(obj, **dumps_kwargs) + end)
