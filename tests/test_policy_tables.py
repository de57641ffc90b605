"""The policy-benchmark tables and numbers in the docs come from committed results files.

Imports ``benchmarks/policy_tables.py`` because that generator is what is tested here.
"""
import glob
import json
import os.path as osp
import re
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))

import policy_tables  # noqa: E402
from test_docs_links import slug  # noqa: E402

RESULTS = osp.join(ROOT, 'benchmarks', 'results')
POLICY_SECTION = '## Policy quality'
NUMBER = re.compile(r'(?<![\w.])\d+\.\d\d(?![\d])')


def _policy_files():
    return sorted(p for p in glob.glob(osp.join(RESULTS, 'bench_policy_*.json')))


def _floats(obj):
    if isinstance(obj, float):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _floats(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _floats(v)


def reproducible_numbers():
    """Every two-decimal number the committed policy results give: their tables (means,
    standard deviations, gains, ratios) and each recorded value."""
    found = set()
    for path in _policy_files():
        rel = osp.relpath(path, ROOT)
        data = policy_tables.load(rel)
        texts = [policy_tables.TABLES[kind]([(rel, '')]) for kind in
                 ('accuracy', 'found', 'searches', 'paired')]
        found |= set(NUMBER.findall('\n'.join(texts)))
        for value in _floats(data):
            found |= {f'{value:.2f}', f'{100 * value:.2f}'}
    return found


def policy_section(text):
    start = text.index(POLICY_SECTION)
    end = text.find('\n## ', start + 1)
    return text[start:end if end >= 0 else None]


def quoted_policy_numbers():
    """(where, number) of each two-decimal number the docs quote about policy quality: the
    policy section of docs/benchmarks.md and every README or docs line that links into it."""
    bench = open(osp.join(ROOT, 'docs', 'benchmarks.md')).read()
    section = policy_section(bench)
    anchors = [slug(h) for h in re.findall(r'^#+ (.*)$', section, re.M)]
    quoted = []
    for lineno, line in enumerate(section.splitlines()):
        if line.startswith('<!--'):
            continue
        quoted += [(f'docs/benchmarks.md policy section line {lineno}', n)
                   for n in NUMBER.findall(line)]
    for path in [osp.join(ROOT, 'README.md')] + glob.glob(osp.join(ROOT, 'docs', '*.md')):
        for lineno, line in enumerate(open(path).read().splitlines(), 1):
            if any(f'benchmarks.md#{a}' in line for a in anchors):
                quoted += [(f'{osp.relpath(path, ROOT)}:{lineno}', n)
                           for n in NUMBER.findall(line)]
    return quoted


def test_every_results_file_records_commit_command_and_versions():
    for path in sorted(glob.glob(osp.join(RESULTS, '*.json'))):
        data = json.load(open(path))
        name = osp.basename(path)
        made = data.get('provenance') or data
        commit = made.get('commit') or (made.get('git') or {}).get('commit')
        assert commit and re.fullmatch(r'[0-9a-f]{40}', commit), f'{name}: no commit'
        assert made.get('command'), f'{name}: no command'
        versions = made.get('packages') or made.get('versions') or data.get('environment')
        assert versions and versions.get('torch'), f'{name}: no package versions'


def test_docs_tables_are_what_their_results_files_give():
    text = open(osp.join(ROOT, 'docs', 'benchmarks.md')).read()
    found = policy_tables.blocks(text)
    assert len(found) >= 3
    stale = [spec for spec, body, want in found if body != want]
    assert not stale, ('regenerate with `python benchmarks/policy_tables.py --update '
                       f'docs/benchmarks.md`: {stale}')
    for spec, _, _ in found:
        for path, _ in policy_tables.parse_spec(spec)[1]:
            assert osp.isfile(osp.join(ROOT, path)), path


def test_every_quoted_policy_number_is_in_a_committed_results_file():
    known = reproducible_numbers()
    quoted = quoted_policy_numbers()
    assert len(quoted) > 20  # the section quotes its numbers (the check has work to do)
    unknown = [f'{where}: {n}' for where, n in quoted if n not in known]
    assert not unknown, '\n'.join(unknown)


def test_the_number_check_flags_a_number_no_file_gives():
    known = reproducible_numbers()
    # the first two-decimal number from 99.50 up that no results file gives (as results
    # files accumulate, the accuracies near 100 fill in, so the search goes on above 100)
    invented = next(f'{v / 100:.2f}' for v in range(9950, 100000)
                    if f'{v / 100:.2f}' not in known)
    doc = f'## Policy quality\n| natural | searched | {invented} ± 0.33 |\n## Next\n| 1.23 |'
    assert NUMBER.findall(policy_section(doc)) == [invented, '0.33']
    assert invented not in known


def _toy_results(tmp_path):
    def search(variant, seed, ratio, top25, p, m, target):
        info = dict(op='Invert' if target is None else 'Brightness', selection_ratio=ratio,
                    in_top25=top25, in_top25_chance=25 * 14 / 105, top1_holds_op=True,
                    mean_prob=p, mean_magnitude=m)
        if target is not None:
            info['target_level'] = target
        return dict(kind='search', variant=variant, seed=seed, seconds=10.0, updates=5,
                    ops={info['op']: info})

    results = [search('invert', 0, 3.0, 10, 0.9, 0.5, None),     # found
               search('invert', 1, 0.8, 10, 0.9, 0.5, None),     # ratio below 1
               search('dark', 0, 2.0, 7, 0.7, 0.2, 1 / 9),       # found (level nearer)
               search('dark', 1, 2.0, 7, 0.7, 0.8, 1 / 9)]       # level the wrong way
    for seed, (none, searched) in enumerate([(0.10, 0.90), (0.20, 0.70)]):
        results += [dict(kind='retrain', variant='invert', seed=seed, arm='none', top1=none,
                         seconds=1.0),
                    dict(kind='retrain', variant='invert', seed=seed, arm='searched',
                         top1=searched, seconds=1.0)]
    data = dict(provenance=dict(commit='a' * 40, dirty=False, command='python x'),
                args=dict(variants=['invert', 'dark'], arms=['none', 'searched']),
                results=results)
    path = tmp_path / 'toy.json'
    path.write_text(json.dumps(data))
    return str(path)


def test_tables_on_hand_computed_results(tmp_path, monkeypatch):
    monkeypatch.setattr(policy_tables, 'ROOT', '/')
    path = _toy_results(tmp_path)
    acc = policy_tables.accuracy_table([(path, '')]).splitlines()
    # none: 10, 20 -> 15.00 ± 7.07; searched: 90, 70 -> 80.00 ± 14.14, +65.00
    assert '| invert | none (crop only) | 15.00 ± 7.07 | 10.00, 20.00 |  |' in acc
    assert any('80.00 ± 14.14 | 90.00, 70.00 | +65.00 |' in line for line in acc)
    labelled = policy_tables.accuracy_table([(path, 'toy setting')]).splitlines()
    assert '| invert | toy setting: none (crop only) | 15.00 ± 7.07 | 10.00, 20.00 |  |' \
        in labelled
    found = policy_tables.found_table([(path, 'toy')]).splitlines()
    assert found[2] == '| invert (Invert) | 1 / 2 (3.00, 0.80) |'
    assert found[3] == '| dark (Brightness) | 1 / 2 (2.00, 2.00) |'
    assert found[4] == '| all shifts | **2 / 4** |'
    rows = policy_tables.searches_table([(path, 'toy')]).splitlines()
    assert '| toy | dark | 1 | Brightness | no | 2.00 | 7 (3.3) | 0.70 | 0.80 (0.11) |' \
        in rows[-1]


def test_paired_table_on_hand_computed_results(tmp_path, monkeypatch):
    monkeypatch.setattr(policy_tables, 'ROOT', '/')
    results = [dict(kind='retrain', variant='natural', seed=seed, arm=arm, top1=top1,
                    seconds=1.0)
               for seed, arm, top1 in [(0, 'searched', 0.90), (0, 'unweighted', 0.88),
                                       (1, 'searched', 0.85), (1, 'unweighted', 0.86),
                                       (2, 'searched', 0.95), (2, 'unweighted', 0.90),
                                       (3, 'searched', 0.80)]]  # seed 3: one arm only
    path = tmp_path / 'paired.json'
    path.write_text(json.dumps(dict(
        provenance=dict(commit='a' * 40, dirty=False, command='python x'),
        args=dict(variants=['natural'], arms=['searched', 'unweighted']), results=results)))
    rows = policy_tables.paired_table([(str(path), 'toy')]).splitlines()
    # differences +2, -1, +5 points: mean 2.00, std 3.00, standard error 3 / sqrt(3) = 1.73
    assert rows[2] == '| toy | natural | +2.00 ± 1.73 | 2 of 3 | +2.00, -1.00, +5.00 |'


def test_update_rewrites_only_the_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(policy_tables, 'ROOT', '/')
    path = _toy_results(tmp_path)
    text = (f'intro\n<!-- policy-table: found {path}=toy -->\nold\n<!-- /policy-table -->\n'
            'outro 12.34\n')
    new = policy_tables.update(text)
    assert new.startswith('intro\n<!-- policy-table: found') and new.endswith(
        '<!-- /policy-table -->\noutro 12.34\n')
    assert '| all shifts | **2 / 4** |' in new and 'old' not in new
    [(spec, body, want)] = policy_tables.blocks(new)
    assert body == want
    with pytest.raises(ValueError, match='kind'):
        policy_tables.parse_spec('histogram x.json')


def test_detection_table_on_hand_computed_results(tmp_path, monkeypatch):
    monkeypatch.setattr(policy_tables, 'ROOT', '/')
    info = dict(op='Invert', selection_ratio=3.0, in_top25=12, in_top25_chance=25 * 14 / 105,
                top1_holds_op=True, mean_prob=0.8, mean_magnitude=0.5, target_level=None)
    results = [dict(kind='search', variant='invert', seed=0, seconds=10.0,
                    ops=dict(Invert=info))]
    for seed, (none, searched) in enumerate([(0.10, 0.30), (0.20, 0.50)]):
        results += [dict(kind='retrain', variant='invert', seed=seed, arm='none',
                         bbox_map=none),
                    dict(kind='retrain', variant='invert', seed=seed, arm='searched',
                         bbox_map=searched)]
    path = tmp_path / 'det.json'
    path.write_text(json.dumps(dict(provenance=dict(commit='0' * 40, command='x'),
                                    args=dict(variants=['invert'], arms=['none', 'searched']),
                                    results=results)))
    rows = policy_tables.detection_table([(str(path), '')]).splitlines()
    # none: 10, 20 -> 15.00 ± 7.07; searched: 30, 50 -> 40.00 ± 14.14, +25.00
    assert '| invert | none (no policy) | 15.00 ± 7.07 | 10.00, 20.00 |  |' in rows
    assert ("| invert | searched (the search's top-25 policy) | 40.00 ± 14.14 | 30.00, 50.00 "
            '| +25.00 |') in rows
    assert rows[-1] == '| invert | 0 | Invert | yes | 3.00 | 12 (3.3) | 0.80 | 0.50 | 10 |'
    # a --search-only file: the searches alone
    data = json.loads(path.read_text())
    data['results'] = [r for r in data['results'] if r['kind'] == 'search']
    path.write_text(json.dumps(data))
    rows = policy_tables.detection_table([(str(path), '')]).splitlines()
    assert rows[0].startswith('| variant | seed | op | found |') and len(rows) == 3


def test_detection_signal_table_on_hand_computed_results(tmp_path, monkeypatch):
    monkeypatch.setattr(policy_tables, 'ROOT', '/')
    rows = [dict(epochs=8, shift='dark', undo_op='Brightness', rank=4,
                 undo=dict(mean=1.0, se=0.25, t=4.0), top_op='Sharpness', top_t=6.04),
            dict(epochs=24, shift='dark', undo_op='Brightness', rank=1,
                 undo=dict(mean=2.0, se=0.2, t=10.0), top_op='Brightness', top_t=10.0)]
    path = tmp_path / 'signal.json'
    path.write_text(json.dumps(dict(provenance=dict(commit='0' * 40, command='x'),
                                    args=dict(variants=['dark']), results=rows)))
    lines = policy_tables.detection_signal_table([(str(path), '')]).splitlines()
    assert lines[2:] == ['| 8 | dark (Brightness) | 4 (4.0) | Sharpness (6.0) |',
                         '| 24 | dark (Brightness) | **1** (10.0) | Brightness (10.0) |']


def test_lookahead_signal_table_on_hand_computed_results(tmp_path, monkeypatch):
    monkeypatch.setattr(policy_tables, 'ROOT', '/')

    def row(mode, epochs, rank, t, top_op, top_t):
        return dict(bn_mode=mode, epochs=epochs, shift='rotate', undo_op='Rotate', rank=rank,
                    undo=dict(mean=1.0, se=1.0, t=t), top_op=top_op, top_t=top_t)

    paths = []
    for seed, (lr, rows) in enumerate([
            (0.05, [row('train', 3, 1, 15.04, 'Rotate', 15.04),
                    row('train', 8, 3, 3.66, 'Cutout', 4.71),
                    row('eval', 3, 5, float('nan'), 'ShearX', float('nan'))]),
            (0.005, [row('eval', 3, 2, 1.4, 'ShearX', 1.6)])]):
        path = tmp_path / f'lookahead{seed}.json'
        path.write_text(json.dumps(dict(provenance=dict(commit='0' * 40, command='x'),
                                        args=dict(trial_lr=lr), results=rows)))
        paths.append((str(path), f'seed {seed}'))
    lines = policy_tables.lookahead_signal_table(paths).splitlines()
    assert lines[0] == ('| BN (trial lr) | shift (undoing op) | seed 0, 3 ep | seed 0, 8 ep | '
                        'seed 1, 3 ep |')
    assert lines[2:] == [
        '| train (0.05) | rotate (Rotate) | **1** (15.0) | 3 (3.7; Cutout 4.7) |  |',
        '| eval (0.05) | rotate (Rotate) | no finite t |  |  |',
        '| eval (0.005) | rotate (Rotate) |  |  | 2 (1.4; ShearX 1.6) |']


def test_the_start_arm_is_named_with_its_files_starting_levels():
    signed = dict(args=dict(hook_options={'learner': {'init': {'signed_magnitude': 0.6}}}))
    assert policy_tables.arm_names(signed)['start'] == (
        "start (the search's starting point: 105 sub-policies, p = m = 0.5, the signed ops "
        'at m = 0.6)')
    assert policy_tables.arm_names(dict(args={}))['start'] == policy_tables.ARM_NAMES['start']
