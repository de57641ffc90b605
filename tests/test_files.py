"""Atomic writes (``dada_mm.utils.files``): the umask decides the mode, as for any file
``open()`` creates, and a failed write never loses the file already there."""
import json
import os
import stat

import pytest

from dada_mm.utils import files
from dada_mm.utils.files import write_json_atomic, write_text_atomic


@pytest.fixture
def umask():
    """Set the process umask for one test; restored afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.skipif(os.name != 'posix', reason='POSIX permission bits')
@pytest.mark.parametrize('mask,want', [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600),
                                       (0o027, 0o640)])
def test_new_file_mode_follows_the_umask(tmp_path, umask, mask, want):
    umask(mask)
    path = write_text_atomic(tmp_path / 'a.json', '{}')
    assert mode(path) == want
    # exactly what open() gives a new file under the same umask
    with open(tmp_path / 'plain.txt', 'w') as f:
        f.write('x')
    assert mode(tmp_path / 'plain.txt') == want


@pytest.mark.skipif(os.name != 'posix', reason='POSIX permission bits')
def test_policy_and_history_files_are_group_and_world_readable_under_umask_022(
        tmp_path, umask):
    from dada_mm.policy import save_policy_file
    from dada_mm.search.history import SearchHistory
    from dada_mm.search.policy_params import PolicyParameters
    umask(0o022)
    policy = save_policy_file(tmp_path / 'dada_policy.json',
                              [[dict(op='Invert', prob=1.0, magnitude=0.0)]])
    history = SearchHistory()
    history.record(1, 10, PolicyParameters())
    history.write(tmp_path / 'dada_search_history.json')
    assert mode(policy) == 0o644
    assert mode(tmp_path / 'dada_search_history.json') == 0o644
    assert json.loads((tmp_path / 'dada_search_history.json').read_text())['epochs'][0][
        'epoch'] == 1


@pytest.mark.skipif(os.name != 'posix', reason='POSIX permission bits')
def test_replacing_a_file_gives_it_the_umask_mode(tmp_path, umask):
    """The target is replaced, not rewritten in place: an old 0600 file (written before
    this rule) becomes 0644 at the next write under umask 022."""
    path = tmp_path / 'p.json'
    path.write_text('old')
    os.chmod(path, 0o600)
    umask(0o022)
    write_text_atomic(path, 'new')
    assert path.read_text() == 'new' and mode(path) == 0o644


@pytest.mark.parametrize('where', ['open', 'write', 'fsync', 'replace', 'interrupt'])
def test_failed_write_keeps_the_existing_file(tmp_path, monkeypatch, where):
    path = tmp_path / 'dada_policy.json'
    write_json_atomic(path, {'v': 'original'})
    before, before_mode = path.read_bytes(), mode(path)

    def boom(*args, **kwargs):
        if where == 'interrupt':
            raise KeyboardInterrupt
        raise OSError(f'simulated failure in {where}')

    if where == 'open':
        monkeypatch.setattr(files.os, 'open', boom)
    elif where == 'write':
        monkeypatch.setattr(files.os, 'fdopen', lambda fd, *a, **k: _FailingFile(fd, boom))
    elif where == 'fsync':
        monkeypatch.setattr(files.os, 'fsync', boom)
    else:
        monkeypatch.setattr(files.os, 'replace', boom)
    with pytest.raises(KeyboardInterrupt if where == 'interrupt' else OSError):
        write_json_atomic(path, {'v': 'new'})
    monkeypatch.undo()
    assert path.read_bytes() == before and mode(path) == before_mode
    assert json.loads(path.read_text()) == {'v': 'original'}
    assert sorted(os.listdir(tmp_path)) == ['dada_policy.json']  # no temp file left


class _FailingFile:
    """A file object whose write fails after the descriptor was opened."""

    def __init__(self, fd, boom):
        self.fd, self.boom = fd, boom

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        os.close(self.fd)
        return False

    def write(self, text):
        self.boom()


def test_taken_temporary_names_are_skipped(tmp_path, monkeypatch):
    """A leftover file with the next temporary name is never opened or overwritten."""
    names = iter(['aaaa', 'aaaa', 'bbbb'])
    monkeypatch.setattr(files.secrets, 'token_hex', lambda n: next(names))
    stale = tmp_path / '.p.json.aaaa.tmp'
    write_text_atomic(tmp_path / 'p.json', 'first')  # takes .p.json.aaaa.tmp, renamed
    stale.write_text('someone else\'s')
    write_text_atomic(tmp_path / 'p.json', 'second')  # aaaa is taken: uses bbbb
    assert stale.read_text() == 'someone else\'s'
    assert (tmp_path / 'p.json').read_text() == 'second'
    assert sorted(os.listdir(tmp_path)) == ['.p.json.aaaa.tmp', 'p.json']
