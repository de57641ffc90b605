"""The augmentation, search and policy benchmarks run and end with ``key=value`` numbers
that are finite and agree with the rest of their output (tiny sizes: a smoke run, not a
measurement).

Imports the benchmarks because the benchmarks themselves are what is tested here.
"""
import importlib.util
import json
import math
import os.path as osp

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load(name):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(REPO, 'benchmarks', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def printed_lines(capsys):
    return [line for line in capsys.readouterr().out.splitlines() if line.strip()]


def key_value_pairs(line):
    return dict(pair.split('=', 1) for pair in line.split())


def last_line_pairs(capsys):
    return key_value_pairs(printed_lines(capsys)[-1])


def test_bench_search_prints_the_ratios_of_relax_and_candidates(capsys, monkeypatch,
                                                                 tmp_path):
    monkeypatch.chdir(REPO)
    # the median of 3 paired rounds: one slow plain step (a first call, a loaded machine)
    # cannot put a ratio below 1 alone
    load('bench_search').main(['--crop', '32', '--batch-size', '4', '--repeats', '3',
                               '--warmup', '1', '--device', 'cpu',
                               '--out', str(tmp_path / 'search.json')])
    lines = printed_lines(capsys)
    pairs = key_value_pairs(lines[-1])
    # the amortised costs twice: at the run's own q and at q = 1, one row per setting each
    fixed = lines.index('the same with the iterations without an update at a plain step '
                        '(q = 1):')
    assert [line.split(':')[0].strip() for line in lines[fixed + 1:fixed + 4]] == [
        'second order', 'first order', 'candidates order']
    names = ('second_order', 'first_order', 'candidates')
    assert set(pairs) == {f'{n}_ratio' for n in names} | {f'{n}_no_update_ratio'
                                                            for n in names}
    made = json.load(open(tmp_path / 'search.json'))['provenance']
    assert made['command'].startswith('python benchmarks/bench_search.py --crop 32')
    from importlib.metadata import version
    assert made['packages']['torch'] == version('torch')
    for name in names:
        search = float(pairs[f'{name}_ratio'])
        no_update = float(pairs[f'{name}_no_update_ratio'])
        # a search iteration contains a plain one plus extra passes (several times its
        # work: > 1 in the median of noisy rounds); one without a policy update is a plain one
        # plus the augmentation, too close to 1 to order in one round on a loaded machine
        assert math.isfinite(search) and search > 1.0
        assert math.isfinite(no_update) and no_update > 0


def test_the_amortised_costs_are_the_stated_averages():
    """(r + (n - 1) q) / n per iteration and the epochs' weighted mean end to end, against
    hand-computed values (r = 3.4, q = 0.6, 100 epochs searching in the first 20)."""
    cells = load('bench_search').amortised_cells(3.4, 0.6, 100, 20)
    # n=4: (3.4 + 3 * 0.6) / 4 = 1.3; end to end (80 * 0.6 + 20 * 1.3) / 100 = 0.74
    assert cells == ('n=1: 3.40 / 1.160,  n=2: 2.00 / 0.880,  n=4: 1.30 / 0.740,  '
                     'n=8: 0.95 / 0.670')


def test_bench_augment_prints_ratios(capsys):
    """The ratios are finite and positive, and the slowest op named on the last line is
    the one with the lowest PIL/ours ratio in the per-op table above it."""
    load('bench_augment').main(['--quick', '--sizes', '32x48', '--op-size', '32x48'])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    pairs = dict(pair.split('=', 1) for pair in lines[-1].split())
    for key in ('vs_mmpretrain_32x48', 'vs_torchvision_32x48', 'vs_pil_32x48',
                'slowest_op_vs_pil'):
        assert math.isfinite(float(pairs[key])) and float(pairs[key]) > 0
    first = next(i for i, line in enumerate(lines) if line.startswith('per op at')) + 3
    rows = [line.split() for line in lines[first:first + 15]]
    ratios = {row[0]: row[4] for row in rows}  # op level ours PIL PIL/ours
    assert set(ratios) == {'ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate',
                           'AutoContrast', 'Invert', 'Equalize', 'Solarize', 'Posterize',
                           'Contrast', 'Color', 'Brightness', 'Sharpness', 'Cutout'}
    lowest = min(ratios.values(), key=float)
    assert pairs['slowest_op_vs_pil'] == lowest
    assert ratios[pairs['slowest_op']] == lowest  # (two ops may print the same ratio)


def test_bench_policy_runs_search_and_retraining(capsys, tmp_path):
    """Smoke run of the policy-quality benchmark (one seed, one epoch, tiny network): two
    updates cannot be relied on to find the planted op, so this checks what the run must
    get right: the runs it made, the policy statistics' ranges, and that the last line's
    numbers are the ones its results recompute to."""
    bench = load('bench_policy')
    out = bench.main([
        '--seeds', '0', '--variants', 'natural', 'invert', '--arms', 'none', 'start',
        'searched', '--search-epochs', '1', '--retrain-epochs', '1', '--width', '4',
        '--train-per-class', '12', '--jobs', '1', '--work-dir', str(tmp_path),
        '--out', str(tmp_path / 'results.json')])
    pairs = last_line_pairs(capsys)
    # the planted variants retrain only none and searched
    assert set(pairs) == {'natural_searched_vs_none', 'natural_searched_vs_start',
                          'invert_searched_vs_none', 'invert_found'}
    searches = {r['variant']: r for r in out['results'] if r['kind'] == 'search'}
    retrains = {(r['variant'], r['arm']): r for r in out['results'] if r['kind'] == 'retrain'}
    assert len(out['results']) == 7 and set(searches) == {'natural', 'invert'}
    assert set(retrains) == {('natural', 'none'), ('natural', 'start'),
                             ('natural', 'searched'), ('invert', 'none'),
                             ('invert', 'searched')}
    for search in searches.values():
        # 60 search-train images (6 a class), batch 32: 2 updates in the one epoch
        assert search['updates'] == 2 and search['skipped'] == 0, search
        assert len(json.load(open(search['policy_file']))['sub_policies']) == 25
    assert set(searches['natural']['ops']) == {'Invert', 'Rotate'}
    assert set(searches['invert']['ops']) == {'Invert'}
    for info in [*searches['natural']['ops'].values(), *searches['invert']['ops'].values()]:
        assert info['in_top25_chance'] == pytest.approx(25 * 14 / 105)  # 14 hold each op
        assert 0 <= info['in_top25'] <= 14 and 0 < info['selection_ratio'] < 105
        assert 0 <= info['mean_prob'] <= 1 and 0 <= info['mean_magnitude'] <= 1
    assert searches['invert']['ops']['Invert']['target_level'] is None  # no level
    assert pairs['invert_found'] == f"{int(bench.planted_found(searches['invert']))}/1"
    for variant, ref in (('natural', 'none'), ('natural', 'start'), ('invert', 'none')):
        assert 0.0 <= retrains[(variant, ref)]['top1'] <= 1.0
        gain = 100 * (retrains[(variant, 'searched')]['top1'] - retrains[(variant, ref)]['top1'])
        assert float(pairs[f'{variant}_searched_vs_{ref}']) == pytest.approx(gain, abs=0.005)
    made = json.load(open(tmp_path / 'results.json'))['provenance']
    assert made['command'].startswith('python benchmarks/bench_policy.py --seeds 0')
    assert set(made) >= {'commit', 'dirty', 'packages', 'python', 'date'}


def test_planted_found_criterion():
    """bench_policy's found criterion at each of its thresholds (a signed op's level counts
    at the shift's level or its mirror)."""
    found = load('bench_policy').planted_found

    def run(op='Rotate', target=5 / 6, **info):
        info = dict(dict(selection_ratio=1.2, in_top25=7, in_top25_chance=25 * 14 / 105,
                         mean_prob=0.6, mean_magnitude=0.8), **info)
        return found(dict(ops={op: dict(info, target_level=target)}))

    assert run()
    assert not run(selection_ratio=1.0)
    assert run(in_top25=7) and not run(in_top25=6)  # twice the chance count: 6.67
    assert not run(mean_prob=0.5)
    # Rotate is signed: 1/6 is as good as 5/6; 0.5 (the start) is not closer
    assert run(mean_magnitude=1 / 6 + 0.05) and not run(mean_magnitude=0.5)
    # Contrast is not signed: its level must move from 0.5 towards 1/9 (or be within 0.1)
    assert run('Contrast', 1 / 9, mean_magnitude=0.4)
    assert not run('Contrast', 1 / 9, mean_magnitude=0.6)
    # Solarize's shift is at the start (0.5): only "within 0.1" can hold
    assert run('Solarize', 0.5, mean_magnitude=0.58) and not run('Solarize', 0.5,
                                                                  mean_magnitude=0.62)
    assert run('Invert', None, mean_magnitude=0.9)  # no level to reach


def test_bench_det_policy_merges_the_estimator_options_key_by_key():
    """--hook-options over the detector benchmark's hook: the estimator's keys go into the
    benchmark's estimator (its images and draws per update stay), another estimator type
    or any other option replaces the benchmark's."""
    with_options = load('bench_det_policy').with_options
    hook = dict(type='DADASearchHook', top_k=25, learner=dict(search_begin=0),
                estimator=dict(type='candidates', num_images=2, num_draws=2,
                               magnitude_ops=1))
    out = with_options(hook, {'estimator': {'reward': 'match'},
                              'learner': {'search_begin': 24}})
    assert out['estimator'] == dict(type='candidates', num_images=2, num_draws=2,
                                    magnitude_ops=1, reward='match')
    assert out['learner'] == {'search_begin': 24} and out['top_k'] == 25
    same = with_options(hook, {'estimator': {'type': 'candidates', 'num_images': 4}})
    assert same['estimator']['num_images'] == 4 and same['estimator']['num_draws'] == 2
    other = with_options(hook, {'estimator': {'type': 'relax'}})
    assert other['estimator'] == {'type': 'relax'}
    assert hook['estimator'] == dict(type='candidates', num_images=2, num_draws=2,
                                     magnitude_ops=1)  # the benchmark's own is untouched


def test_the_undoing_ops_statistics_in_the_detection_familys_space():
    """bench_det_policy's search over the detection family: the op's pairs among 300
    (24 hold each of its 25 ops: chance 25 * 24 / 300 = 2 of the top 25), its slots, and
    the found criterion for an op of that family alone."""
    from dada_mm.search.policy_params import PolicyParameters
    from dada_mm.search_space import ZOPH_DETECTION_SEARCH_SPACE as zoph
    bench = load('bench_policy')
    policy = PolicyParameters(300)
    pairs = [i for i, sub in enumerate(zoph.sub_policies) if 'Solarize' in sub]
    with torch.no_grad():
        policy.alpha.zero_()
        policy.alpha[pairs] = 1.0
        policy.probs[pairs] = 0.9
    info = bench.undo_op_summary(policy, 'Solarize', None, zoph)
    assert len(pairs) == 24 and info['in_top25_chance'] == pytest.approx(2.0)
    assert info['in_top25'] == 24 and info['mean_prob'] == pytest.approx(0.9)
    assert info['selection_ratio'] == pytest.approx(math.e)
    with pytest.raises(KeyError, match="'Invert' is not an op of the 'zoph-detection'"):
        bench.undo_op_summary(policy, 'Invert', None, zoph)
    found = dict(selection_ratio=2.0, in_top25=9, in_top25_chance=2.0, mean_prob=0.6,
                 mean_magnitude=0.3, target_level=0.2)
    assert bench.planted_found(dict(ops={'Rotate_BBox': found}))
    assert not bench.planted_found(dict(ops={'Rotate_BBox': dict(found, mean_prob=0.4)}))
