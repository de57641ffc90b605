"""Atomic file writes: a reader (or a crash) never sees a half-written file.

The text goes to a temporary file in the target's directory, is flushed to disk and then
renamed over the target (``os.replace`` is atomic on POSIX and Windows). If anything
fails on the way the temporary file is removed and the target is left as it was.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Union

__all__ = ['write_text_atomic', 'write_json_atomic']


def write_text_atomic(path: Union[str, os.PathLike], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; creates the parent directories."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
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
