"""``benchmarks/gpu_check.sh`` in its CPU mode (tiny sizes: a check that the GPU script's
whole path runs and writes its results file with real numbers, not a measurement).

Runs the benchmark scripts because they are what is tested here.
"""
import json
import math
import os
import os.path as osp
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SECTIONS = ('bench_search', 'batched_ops', 'cifar_search')


def finite_positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_gpu_check_cpu_mode_writes_results(tmp_path):
    out = tmp_path / 'gpu_check.json'
    env = dict(os.environ)
    env.pop('OUT', None)
    proc = subprocess.run(['bash', osp.join(REPO, 'benchmarks', 'gpu_check.sh'), '--device',
                           'cpu', '--small', '--python', sys.executable, '--out', str(out)],
                          cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=400)
    assert out.exists(), proc.stdout[-3000:]
    res = json.loads(out.read_text())
    assert res['device'] == 'cpu' and res['small'] is True
    head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert res['provenance']['commit'] == head
    assert res['provenance']['command'].startswith('python benchmarks/gpu_check.py --device cpu')
    assert (out.parent / 'gpu_check.log').exists()
    assert set(res['sections']) == set(SECTIONS)
    for name, rec in res['sections'].items():
        # on a CPU everything here can run (the not-run path: the test below)
        assert rec['status'] == 'ran', (name, rec.get('reason'), rec.get('output_tail'))
        assert 'reason' not in rec and not any(line.startswith(f'{name}: ')
                                               and 'peer' not in line
                                               for line in res['not_run'])
        assert finite_positive(rec['seconds'])
        # the path the GPU machine takes never imports mmdet
        assert rec['imports']['mmdet_hidden'] and not rec['imports']['mmdet_loaded']
    assert proc.returncode == 0, proc.stdout[-3000:]

    search = res['sections']['bench_search']['results']
    for key in ('second_order_ratio', 'first_order_ratio'):
        # a search iteration contains a plain one plus extra passes
        assert finite_positive(search[key]) and search[key] > 1.0, search

    ops = res['sections']['batched_ops']
    r = ops['results']
    for key in ('ours_images_per_s', 'torchvision_v2_images_per_s', 'vs_torchvision_v2',
                'vs_best_peer', 'ours_fwd_bwd_st_images_per_s',
                'ours_fwd_bwd_exact_images_per_s'):
        assert finite_positive(r[key]), (key, r)
    if 'vs_kornia' in r:
        for key in ('kornia_images_per_s', 'vs_kornia', 'vs_kornia_fwd_bwd_exact'):
            assert finite_positive(r[key]), (key, r)
        assert r['vs_best_peer'] <= r['vs_kornia'] + 1e-6
    else:  # kornia is a benchmark extra: then its rows are skipped, and say so
        assert any('kornia' in p and 'skipped' in p for p in ops['skipped_peers'])
        assert any('kornia' in line for line in res['not_run'])
    assert r['vs_best_peer'] <= r['vs_torchvision_v2'] + 1e-6

    cifar = res['sections']['cifar_search']['results']
    for key in ('search_vs_plain', 'search_vs_plain_epoch', 'search_seconds',
                'plain_seconds'):
        assert finite_positive(cifar[key]), (key, cifar)
    assert cifar['search_vs_plain_epoch'] > 1.0 and cifar['updates'] > 0, cifar
    assert res['total_seconds'] > 0


def test_gpu_check_says_why_sections_did_not_run(tmp_path):
    """A section not selected or out of time budget is recorded as skipped with its reason,
    listed in not_run, and the exit status is 1 (nothing runs: a second or two)."""
    out = tmp_path / 'gpu_check.json'
    proc = subprocess.run([sys.executable, osp.join(REPO, 'benchmarks', 'gpu_check.py'),
                           '--device', 'cpu', '--small', '--sections', 'batched_ops',
                           '--budget', '1', '--out', str(out)],
                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout[-3000:]
    res = json.loads(out.read_text())
    reasons = {name: (rec['status'], rec['reason']) for name, rec in res['sections'].items()}
    assert reasons == {'bench_search': ('skipped', 'not selected (--sections)'),
                       'batched_ops': ('skipped', 'time budget spent (1 s in all)'),
                       'cifar_search': ('skipped', 'not selected (--sections)')}
    sections_not_run = [line for line in res['not_run'] if line.startswith(SECTIONS)]
    assert sections_not_run == [f'{name}: skipped: {reason}'
                                for name, (_, reason) in reasons.items()]
    assert 'NOT RUN: batched_ops: skipped: time budget spent' in proc.stdout
