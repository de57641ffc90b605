"""Smoke test of the real-search-step part of benchmarks/bench_estimators.py (tiny sizes).

Imports the benchmark because the benchmark itself is what is tested here.
"""
import importlib.util
import math
import os.path as osp

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_bench():
    path = osp.join(REPO, 'benchmarks', 'bench_estimators.py')
    spec = importlib.util.spec_from_file_location('bench_estimators', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_real_step_part_prints_finite_keys(capsys):
    bench = load_bench()
    bench.main(['--part', 'real', '--real-batches', '4', '--real-batch-size', '6',
                '--real-cv-batches', '2', '--real-cv-passes', '2',
                '--real-pretrain-iters', '1', '--real-classes', '3',
                '--real-train-per-class', '4', '--real-image-size', '32',
                '--real-crop', '32', '--real-policy-noise', '0.5'])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    keys = dict(pair.split('=', 1) for pair in lines[-1].split())
    assert not any(k.startswith('relax_vs') for k in keys)  # the toy part did not run
    for key in ('real_relax_vs_reinforce_variance',
                'real_relax_vs_reinforce_baseline_variance',
                'real_relax_untrained_vs_reinforce_variance',
                'real_reinforce_baseline_vs_reinforce_variance',
                'real_relax_batch_variance', 'real_reinforce_batch_variance',
                'real_image_baseline_vs_reinforce_variance'):
        value = float(keys[key])
        assert math.isfinite(value) and value > 0, (key, value)
    for key in ('real_relax_vs_reinforce_dev_se', 'real_gumbel_st_dev_se',
                'real_relax_vs_reinforce_dev_z2', 'real_gumbel_st_dev_z2', 'real_grad_z2'):
        assert math.isfinite(float(keys[key])), (key, keys[key])
    assert 'real_gumbel_st_bias_rel' in keys  # nan when the gradient is not resolved
    assert any(line.startswith('relax ') for line in lines)
    assert any(line.startswith('gumbel_st ') for line in lines)
