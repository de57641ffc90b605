"""The augmentation and search benchmarks run and end with finite ``key=value`` ratios
(tiny sizes: a smoke run, not a measurement)."""
import importlib.util
import math
import os.path as osp

import cv2
import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(autouse=True)
def keep_thread_settings():
    """The benchmarks pin torch / OpenCV to one thread; later tests get theirs back."""
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    yield
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(cv2_threads)


def load(name):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(REPO, 'benchmarks', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def last_line_pairs(capsys):
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    return dict(pair.split('=', 1) for pair in lines[-1].split())


def test_bench_search_prints_the_ratios_of_relax_and_candidates(capsys, monkeypatch,
                                                                 tmp_path):
    import json
    monkeypatch.chdir(REPO)
    load('bench_search').main(['--crop', '32', '--batch-size', '4', '--repeats', '1',
                               '--warmup', '1', '--device', 'cpu',
                               '--out', str(tmp_path / 'search.json')])
    pairs = last_line_pairs(capsys)
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
        # work: > 1 even in one noisy round); one without a policy update is a plain one
        # plus the augmentation, too close to 1 to order in one round on a loaded machine
        assert math.isfinite(search) and search > 1.0
        assert math.isfinite(no_update) and no_update > 0


def test_bench_augment_prints_ratios(capsys):
    load('bench_augment').main(['--quick', '--sizes', '32x48', '--op-size', '32x48'])
    pairs = last_line_pairs(capsys)
    assert pairs['slowest_op'] in {'ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate',
                                   'AutoContrast', 'Invert', 'Equalize', 'Solarize',
                                   'Posterize', 'Contrast', 'Color', 'Brightness',
                                   'Sharpness', 'Cutout'}
    for key in ('vs_mmpretrain_32x48', 'vs_torchvision_32x48', 'vs_pil_32x48',
                'slowest_op_vs_pil'):
        assert math.isfinite(float(pairs[key])) and float(pairs[key]) > 0


def test_bench_policy_runs_search_and_retraining(capsys, tmp_path):
    """Smoke run of the policy-quality benchmark (one seed, one epoch, tiny network)."""
    out = load('bench_policy').main([
        '--seeds', '0', '--variants', 'natural', 'invert', '--arms', 'none', 'start',
        'searched', '--search-epochs', '1', '--retrain-epochs', '1', '--width', '4',
        '--train-per-class', '12', '--jobs', '1', '--work-dir', str(tmp_path),
        '--out', str(tmp_path / 'results.json')])
    pairs = last_line_pairs(capsys)
    # the planted variants retrain only none and searched
    assert set(pairs) == {'natural_searched_vs_none', 'natural_searched_vs_start',
                          'invert_searched_vs_none', 'invert_found'}
    for key, value in pairs.items():
        if key.endswith('_found'):
            assert value in ('0/1', '1/1')
        else:
            assert math.isfinite(float(value))
    kinds = [r['kind'] for r in out['results']]
    assert kinds.count('search') == 2 and kinds.count('retrain') == 5
    for r in out['results']:
        if r['kind'] == 'retrain':
            assert 0.0 <= r['top1'] <= 1.0
    import json
    made = json.load(open(tmp_path / 'results.json'))['provenance']
    assert made['command'].startswith('python benchmarks/bench_policy.py --seeds 0')
    assert set(made) >= {'commit', 'dirty', 'packages', 'python', 'date'}
