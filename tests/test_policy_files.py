"""Policy files and presets: published values, round trips, validation, atomic writes."""
import copy
import json
import math
import os
import os.path as osp
import pickle
import sys

import pytest

import dada_mm.policy.policy_file as policy_file
from dada_mm.policy import (
    PRESET_DIR,
    PolicyError,
    list_presets,
    load_policy_file,
    load_preset,
    parse_policy_json,
    resolve_policy,
    save_policy_file,
    validate_sub_policies,
)
from dada_mm.search_space import OP_NAMES

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(HERE)
SHARED_PUBLISHED = osp.join(REPO, '..', 'shared', 'data', 'dada_published_policies.json')
COPY_PUBLISHED = osp.join(HERE, 'data', 'dada_published_policies.json')
PRESETS = {'dada-cifar10': 'cifar10', 'dada-cifar100': 'cifar100', 'dada-svhn': 'svhn',
           'dada-imagenet': 'imagenet'}

GOOD = [[{'op': 'ShearX', 'prob': 0.5, 'magnitude': 0.7},
         {'op': 'Color', 'prob': 0.3, 'magnitude': 0.2}],
        [{'op': 'Cutout', 'prob': 1.0, 'magnitude': 0.0}]]


def published_path():
    """The shared published file when present (checked against the copy), else the copy."""
    assert osp.isfile(COPY_PUBLISHED), 'tests/data/dada_published_policies.json is missing'
    if osp.isfile(SHARED_PUBLISHED):
        with open(SHARED_PUBLISHED, 'rb') as a, open(COPY_PUBLISHED, 'rb') as b:
            assert a.read() == b.read(), 'tests/data copy differs from ../shared/data'
        return SHARED_PUBLISHED
    return COPY_PUBLISHED


def test_published_copy_used_without_shared(monkeypatch, tmp_path):
    """From a clean clone (no ../shared) the tests fall back to tests/data's copy."""
    monkeypatch.setattr(sys.modules[__name__], 'SHARED_PUBLISHED',
                        str(tmp_path / 'missing.json'), raising=True)
    assert published_path() == COPY_PUBLISHED
    if osp.isfile(SHARED_PUBLISHED):  # the real shared file, when present, is used
        monkeypatch.undo()
        assert published_path() == SHARED_PUBLISHED


def _raw_numbers(path):
    """The JSON document with every float kept as its literal text."""
    with open(path, encoding='utf-8') as f:
        return json.loads(f.read(), parse_float=str)


# --------------------------------------------------------------------------------------
# presets == published values
# --------------------------------------------------------------------------------------
def test_presets_listed():
    assert set(PRESETS) <= set(list_presets())


@pytest.mark.parametrize('preset', sorted(PRESETS))
@pytest.mark.parametrize('via', ['load_preset', 'resolve_policy'])
def test_preset_equals_published(preset, via):
    with open(published_path(), encoding='utf-8') as f:
        published = json.load(f)[PRESETS[preset]]
    doc = load_preset(preset) if via == 'load_preset' else resolve_policy(preset)
    assert doc['version'] == 1
    subs = doc['sub_policies']
    assert len(subs) == 25 == len(published['sub_policies'])
    for i, (got, want) in enumerate(zip(subs, published['sub_policies'])):
        assert [op['op'] for op in got] == [op['op'] for op in want], i
        for g, w in zip(got, want):
            assert set(g) == {'op', 'prob', 'magnitude'}
            # exact float equality, not approx
            assert type(g['prob']) is float and g['prob'] == w['prob'], (i, g, w)
            assert type(g['magnitude']) is float and g['magnitude'] == w['magnitude']
            assert g['op'] in OP_NAMES
    assert doc['meta']['source'] == published['source']


@pytest.mark.parametrize('preset', sorted(PRESETS))
def test_preset_text_has_published_digits(preset):
    published = _raw_numbers(published_path())[PRESETS[preset]]['sub_policies']
    shipped = _raw_numbers(PRESET_DIR / f'{preset}.json')['sub_policies']
    assert len(shipped) == len(published) == 25
    count = 0
    for sub_got, sub_want in zip(shipped, published):
        assert len(sub_got) == len(sub_want)
        for g, w in zip(sub_got, sub_want):
            for key in ('prob', 'magnitude'):
                # the literal digits in both files are identical and are Python's
                # shortest round-trip repr of the value
                assert g[key] == w[key], (preset, key, g[key], w[key])
                assert repr(float(g[key])) == g[key]
                count += 1
    assert count == 100  # 25 sub-policies x 2 ops x 2 numbers


# --------------------------------------------------------------------------------------
# round trip
# --------------------------------------------------------------------------------------
def test_save_load_round_trip_exact(tmp_path):
    subs = copy.deepcopy(load_preset('dada-imagenet')['sub_policies'])
    subs.append([{'op': 'Posterize', 'prob': 0.1 + 0.2, 'magnitude': 1 / 3}])
    meta = {'source': 'test', 'search': {'epochs': 20, 'temperature': 0.5},
            'date': '2020-01-01', 'nested': [1, 2.5, None, 'x']}
    path = save_policy_file(tmp_path / 'sub' / 'p.json', subs, meta)
    assert path == tmp_path / 'sub' / 'p.json'
    with open(path, encoding='utf-8') as f:
        raw = json.load(f)
    assert raw['version'] == 1 and type(raw['version']) is int
    doc = load_policy_file(path)
    assert doc['version'] == 1
    assert doc['sub_policies'] == subs  # float == is exact
    assert doc['sub_policies'][-1][0]['prob'] == 0.30000000000000004
    assert doc['meta'] == meta
    # second round trip is byte-identical
    path2 = save_policy_file(tmp_path / 'p2.json', doc['sub_policies'], doc['meta'])
    assert path.read_bytes() == path2.read_bytes()


def test_ints_normalised_to_float(tmp_path):
    path = save_policy_file(tmp_path / 'p.json', [[{'op': 'Invert', 'prob': 1,
                                                    'magnitude': 0}]])
    doc = load_policy_file(path)
    op = doc['sub_policies'][0][0]
    assert op == {'op': 'Invert', 'prob': 1.0, 'magnitude': 0.0}
    assert type(op['prob']) is float and type(op['magnitude']) is float
    assert doc['meta'] == {}


# --------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------
def _doc(subs=None, **top):
    doc = {'version': 1, 'sub_policies': copy.deepcopy(GOOD) if subs is None else subs,
           'meta': {}}
    doc.update(top)
    return doc


def _with_op(**changes):
    subs = copy.deepcopy(GOOD)
    subs[0][1].update(changes)
    return subs


def _check_error(excinfo, *needles):
    msg = str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)
    for needle in needles:
        assert needle in msg, f'{needle!r} not in {msg!r}'


def test_unknown_op_lists_valid_ops():
    with pytest.raises(PolicyError) as e:
        validate_sub_policies(_with_op(op='Shear'))
    _check_error(e, "sub_policies[0][1].op", "'Shear'", *OP_NAMES)


@pytest.mark.parametrize('field', ['prob', 'magnitude'])
@pytest.mark.parametrize('value,shown', [
    (-0.01, '-0.01'), (1.0000001, '1.0000001'), (float('nan'), 'nan'),
    (float('inf'), 'inf'), (-float('inf'), '-inf'), (True, 'True'), (False, 'False'),
    ('0.5', "'0.5'"), (None, 'None'), ([0.5], '[0.5]')])
def test_bad_numbers(field, value, shown):
    with pytest.raises(PolicyError) as e:
        validate_sub_policies(_with_op(**{field: value}))
    _check_error(e, f'sub_policies[0][1].{field}', shown, '[0, 1]')


@pytest.mark.parametrize('field', ['prob', 'magnitude'])
@pytest.mark.parametrize('value', [0, 0.0, 1, 1.0, 5e-324])
def test_boundary_numbers_accepted(field, value):
    out = validate_sub_policies(_with_op(**{field: value}))
    assert out[0][1][field] == float(value)


@pytest.mark.parametrize('subs,needles', [
    ([], ['sub_policies', 'empty']),
    ([[]], ['sub_policies[0]', 'empty']),
    ([GOOD[0], []], ['sub_policies[1]', 'empty']),
    (GOOD[0], ['sub_policies[0]', 'single dict', 'nesting']),  # flat list of op dicts
    ({'op': 'ShearX', 'prob': 0.5, 'magnitude': 0.5}, ['sub_policies', 'dict']),
    ('ShearX', ['sub_policies', 'str']),
    ([['ShearX']], ['sub_policies[0][0]', 'str']),
    ([[{'op': 'ShearX', 'prob': 0.5, 'magnitude': 0.5, 'level': 3}]],
     ['sub_policies[0][0]', "'level'", 'unknown']),
    ([[{'op': 'ShearX', 'prob': 0.5}]], ['sub_policies[0][0]', "'magnitude'", 'missing']),
    ([[{'prob': 0.5, 'magnitude': 0.5}]], ['sub_policies[0][0]', "'op'", 'missing']),
    ([[{'op': 3, 'prob': 0.5, 'magnitude': 0.5}]], ['sub_policies[0][0].op', '3']),
])
def test_bad_structure(subs, needles):
    with pytest.raises(PolicyError) as e:
        validate_sub_policies(subs)
    _check_error(e, *needles)
    # the same through a file document and through resolve_policy
    with pytest.raises(PolicyError) as e:
        parse_policy_json(json.dumps(_doc(subs)), source='doc.json')
    _check_error(e, 'doc.json', *needles)
    if isinstance(subs, list):
        with pytest.raises(PolicyError):
            resolve_policy(subs)


def test_unknown_preset_lists_presets():
    with pytest.raises(PolicyError) as e:
        load_preset('dada-cifar11')
    _check_error(e, "'dada-cifar11'", *PRESETS)
    with pytest.raises(PolicyError) as e:
        resolve_policy('dada-cifar11')
    _check_error(e, "'dada-cifar11'", *PRESETS)
    with pytest.raises(PolicyError):
        load_preset('../presets/dada-cifar10')


@pytest.mark.parametrize('version,shown', [(0, '0'), (2, '2'), ('1', "'1'"),
                                           (True, 'True'), (None, 'None')])
def test_unsupported_version(version, shown):
    with pytest.raises(PolicyError) as e:
        parse_policy_json(json.dumps(_doc(version=version)), source='v.json')
    _check_error(e, 'v.json', 'version', shown, '[1]')


def test_missing_version_and_sub_policies():
    doc = _doc()
    del doc['version']
    with pytest.raises(PolicyError) as e:
        parse_policy_json(json.dumps(doc), 'm.json')
    _check_error(e, 'm.json', 'missing "version"', '[1]')
    doc = _doc()
    del doc['sub_policies']
    with pytest.raises(PolicyError) as e:
        parse_policy_json(json.dumps(doc), 'm.json')
    _check_error(e, 'missing "sub_policies"')


def test_unknown_top_level_key_and_bad_meta():
    with pytest.raises(PolicyError) as e:
        parse_policy_json(json.dumps(_doc(policies=[])), 'k.json')
    _check_error(e, "'policies'", 'version', 'sub_policies', 'meta')
    with pytest.raises(PolicyError) as e:
        parse_policy_json(json.dumps(_doc(meta=[1])), 'k.json')
    _check_error(e, 'meta', 'list')


@pytest.mark.parametrize('text,needles', [
    ('[]', ['top level', 'list']),
    ('"dada-cifar10"', ['top level', 'str']),
    ('1', ['top level', 'int']),
    ('null', ['top level', 'NoneType']),
    ('{"version": 1, "sub_policies": [[{"op": "ShearX", "prob": 0.5, "magnitude": 0.5}]]',
     ['not valid JSON']),
    ('', ['not valid JSON']),
    ("{'version': 1}", ['not valid JSON']),
    ('{"version": 1, "version": 1, "sub_policies": []}', ['duplicated key', "'version'"]),
    ('{"version": 1, "sub_policies": [[{"op": "ShearX", "prob": 0.5, "prob": 0.5, '
     '"magnitude": 0.5}]]}', ['duplicated key', "'prob'"]),
    ('{"version": 1, "sub_policies": [[{"op": "ShearX", "prob": NaN, "magnitude": 0.5}]]}',
     ['NaN']),
    ('{"version": 1, "sub_policies": [[{"op": "ShearX", "prob": 0.5, '
     '"magnitude": Infinity}]]}', ['Infinity']),
    ('{"version": 1, "sub_policies": [[{"op": "ShearX", "prob": 0.5, '
     '"magnitude": 1e400}]]}', ['magnitude', 'inf']),
])
def test_bad_json_text(tmp_path, text, needles):
    with pytest.raises(PolicyError) as e:
        parse_policy_json(text, source='t.json')
    _check_error(e, 't.json', *needles)
    path = tmp_path / 'bad.json'
    path.write_text(text, encoding='utf-8')
    with pytest.raises(PolicyError) as e:
        load_policy_file(path)
    _check_error(e, str(path), *needles)


def test_non_utf8_bytes(tmp_path):
    path = tmp_path / 'latin1.json'
    text = json.dumps(_doc(meta={'author': 'Jos\u00e9'}), ensure_ascii=False)
    path.write_bytes(text.encode('latin-1'))
    with pytest.raises(PolicyError) as e:
        load_policy_file(path)
    _check_error(e, str(path), 'cannot be read', 'utf-8')
    # and the same text in UTF-8 loads
    path.write_bytes(text.encode('utf-8'))
    assert load_policy_file(path)['meta'] == {'author': 'Jos\u00e9'}


def test_missing_file_and_directory(tmp_path):
    missing = tmp_path / 'nope.json'
    with pytest.raises(PolicyError) as e:
        load_policy_file(missing)
    _check_error(e, str(missing), 'does not exist')
    with pytest.raises(PolicyError) as e:
        resolve_policy(str(missing))
    _check_error(e, str(missing), 'does not exist')
    with pytest.raises(PolicyError) as e:
        load_policy_file(tmp_path)
    _check_error(e, str(tmp_path), 'not a file')
    with pytest.raises(PolicyError) as e:
        resolve_policy(str(tmp_path))
    _check_error(e, str(tmp_path), 'not a file')


def test_file_too_large(tmp_path, monkeypatch):
    path = save_policy_file(tmp_path / 'p.json', GOOD)
    size = path.stat().st_size
    monkeypatch.setattr(policy_file, 'MAX_POLICY_FILE_BYTES', size)
    assert load_policy_file(path)['sub_policies'] == validate_sub_policies(GOOD)
    monkeypatch.setattr(policy_file, 'MAX_POLICY_FILE_BYTES', size - 1)
    with pytest.raises(PolicyError) as e:
        load_policy_file(path)
    _check_error(e, str(path), f'{size} bytes', f'limit is {size - 1} bytes')


def test_resolve_forms(tmp_path):
    inline = resolve_policy(GOOD)
    assert inline['sub_policies'] == validate_sub_policies(GOOD)
    assert inline['version'] == 1
    path = save_policy_file(tmp_path / 'p.json', GOOD, {'k': 'v'})
    assert resolve_policy(str(path)) == {'version': 1,
                                         'sub_policies': inline['sub_policies'],
                                         'meta': {'k': 'v'}}
    assert resolve_policy(path)['sub_policies'] == inline['sub_policies']
    doc = resolve_policy({'version': 1, 'sub_policies': GOOD, 'meta': {'a': 1}})
    assert doc['sub_policies'] == inline['sub_policies'] and doc['meta'] == {'a': 1}
    # the input is not mutated / aliased
    out = resolve_policy(GOOD)
    out['sub_policies'][0][0]['prob'] = 0.99
    assert GOOD[0][0]['prob'] == 0.5
    with pytest.raises(PolicyError) as e:
        resolve_policy(3)
    _check_error(e, 'int')
    with pytest.raises(PolicyError) as e:
        resolve_policy({'sub_policy': GOOD})
    _check_error(e, 'sub_policies')


@pytest.mark.parametrize('version', [0, 2, '1', True])
def test_resolve_document_dict_version(version):
    with pytest.raises(PolicyError) as e:
        resolve_policy({'version': version, 'sub_policies': GOOD})
    _check_error(e, 'version', '[1]')


# --------------------------------------------------------------------------------------
# atomic write
# --------------------------------------------------------------------------------------
def _listing(d):
    return sorted(os.listdir(d))


def test_save_replaces_existing_file_fully(tmp_path):
    path = tmp_path / 'p.json'
    big = [[{'op': 'Rotate', 'prob': 0.123456789, 'magnitude': 0.5}] * 3] * 40
    save_policy_file(path, big, {'note': 'x' * 1000})
    long_size = path.stat().st_size
    save_policy_file(path, GOOD)
    assert path.stat().st_size < long_size
    assert json.loads(path.read_text(encoding='utf-8')) == {
        'version': 1, 'sub_policies': validate_sub_policies(GOOD), 'meta': {}}
    assert _listing(tmp_path) == ['p.json']


@pytest.mark.parametrize('where', ['replace', 'fsync', 'dumps'])
def test_failed_write_keeps_original(tmp_path, monkeypatch, where):
    path = tmp_path / 'p.json'
    save_policy_file(path, GOOD, {'v': 'original'})
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError(f'simulated failure in {where}')

    if where == 'replace':
        monkeypatch.setattr(policy_file.os, 'replace', boom)
    elif where == 'fsync':
        monkeypatch.setattr(policy_file.os, 'fsync', boom)
    else:
        monkeypatch.setattr(policy_file.json, 'dumps', boom)
    with pytest.raises(OSError, match='simulated failure'):
        save_policy_file(path, [[{'op': 'Invert', 'prob': 1.0, 'magnitude': 0.0}]],
                         {'v': 'new'})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert _listing(tmp_path) == ['p.json']  # no temp file left behind
    assert load_policy_file(path)['meta'] == {'v': 'original'}


def test_failed_write_to_new_path_leaves_nothing(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(policy_file.os, 'replace', boom)
    with pytest.raises(KeyboardInterrupt):
        save_policy_file(tmp_path / 'new.json', GOOD)
    assert _listing(tmp_path) == []


@pytest.mark.parametrize('bad', [[], [[]], _with_op(prob=2.0), _with_op(op='Nope')])
def test_invalid_policy_writes_nothing(tmp_path, bad):
    path = tmp_path / 'p.json'
    save_policy_file(path, GOOD)
    before = path.read_bytes()
    with pytest.raises(PolicyError):
        save_policy_file(path, bad)
    with pytest.raises(PolicyError):
        save_policy_file(tmp_path / 'other.json', bad)
    assert path.read_bytes() == before
    assert _listing(tmp_path) == ['p.json']


def test_non_finite_meta_not_written(tmp_path):
    path = tmp_path / 'p.json'
    save_policy_file(path, GOOD)
    before = path.read_bytes()
    with pytest.raises(ValueError):
        save_policy_file(path, GOOD, {'loss': float('nan')})
    assert path.read_bytes() == before
    assert _listing(tmp_path) == ['p.json']


# --------------------------------------------------------------------------------------
# data only: no pickle, no eval
# --------------------------------------------------------------------------------------
class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize('protocol', [0, pickle.HIGHEST_PROTOCOL])
def test_pickle_payload_rejected_not_executed(tmp_path, protocol):
    marker = tmp_path / 'pwned'
    payload = pickle.dumps(_Payload(str(marker)), protocol=protocol)
    path = tmp_path / 'policy.json'
    path.write_bytes(payload)
    with pytest.raises(PolicyError) as e:
        load_policy_file(path)
    msg = str(e.value)
    assert str(path) in msg
    assert 'not valid JSON' in msg or 'cannot be read' in msg, msg
    with pytest.raises(PolicyError):
        resolve_policy(str(path))
    assert not marker.exists()
    # sanity: the payload is live (unpickling it really would run code)
    pickle.loads(payload)
    assert marker.is_dir()


def test_python_code_rejected_not_executed(tmp_path):
    marker = tmp_path / 'pwned'
    code = (f"__import__('os').mkdir({str(marker)!r})\n"
            "dict(version=1, sub_policies=[[dict(op='Invert', prob=1, magnitude=0)]])\n")
    path = tmp_path / 'policy.py'
    path.write_text(code, encoding='utf-8')
    with pytest.raises(PolicyError) as e:
        load_policy_file(path)
    _check_error(e, str(path), 'not valid JSON')
    with pytest.raises(PolicyError):
        resolve_policy(str(path))
    assert not marker.exists()


def test_published_copy_is_valid_json_not_nan():
    with open(published_path(), encoding='utf-8') as f:
        data = json.load(f)
    for entry in data.values():
        for sub in entry['sub_policies']:
            for op in sub:
                assert math.isfinite(op['prob']) and 0 <= op['prob'] <= 1
                assert math.isfinite(op['magnitude']) and 0 <= op['magnitude'] <= 1
