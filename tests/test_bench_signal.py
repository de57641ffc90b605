"""The reward-signal benchmark (benchmarks/bench_signal.py) at tiny sizes: its output
structure, its paired statistic against a hand computation, and its rewards against the
project's own finite difference and batch gradient (a flipped sign fails both).

Imports the benchmark because the benchmark itself is what is tested here.
"""
import json
import math

import pytest
import torch


@pytest.fixture(scope='module')
def bench(load_benchmark):
    return load_benchmark('bench_signal')


def test_paired_statistic_by_hand(bench):
    d = torch.tensor([1.0, 2.0, 4.0, 5.0])
    s = bench.paired(d)
    sd = math.sqrt(((1 - 3) ** 2 + (2 - 3) ** 2 + (4 - 3) ** 2 + (5 - 3) ** 2) / 3)
    assert s['mean'] == pytest.approx(3.0)
    assert s['se'] == pytest.approx(sd / 2.0)
    assert s['t'] == pytest.approx(3.0 / (sd / 2.0))
    assert bench.paired(-d)['t'] == pytest.approx(-s['t'])


def test_rewards_by_hand(bench):
    dots = torch.tensor([[2.0] + [float(c) for c in range(10)],
                         [-1.0] + [float(10 + c) for c in range(10)]])
    norms, v_norms = torch.tensor([2.0, 4.0]), torch.arange(1.0, 12.0)
    r = bench.rewards_of(dots, norms, v_norms, torch.tensor([3, 0]))
    assert r['dot'].tolist() == [2.0, -1.0]
    assert r['cos'].tolist() == pytest.approx([2.0 / 2.0, -1.0 / 4.0])
    assert r['dot_class'].tolist() == [3.0, 10.0]
    assert r['cos_class'].tolist() == pytest.approx([3.0 / (2.0 * 5.0), 10.0 / (4.0 * 2.0)])


def test_gradients_agree_with_the_project(bench):
    """Per-image dots against bilevel.finite_difference_losses (today's reward, train-mode
    BN), and eval-mode per-image gradients averaging to the batch gradient."""
    torch.set_num_threads(1)
    x, y = bench.digits_tensors(16)
    idx = bench.split(y, 4, 2, 0)
    model = bench.build_model(4, 0)
    (state, ) = bench.train_states(model, x[idx['train']], y[idx['train']], [1], 8, 0.05, 0)
    t = state['tensors']
    params = {n: t[n] for n, _ in model.named_parameters()}
    running = {n: t[n] for n, _ in model.named_buffers()}
    xs, ys = x[idx['train']][:8], y[idx['train']][:8]
    xv = bench.apply_candidate(x[idx['val']], bench.SHIFTS['invert'])
    v = bench.held_out_gradients(model, params, running, xv, y[idx['val']], True)[0]
    g = bench.per_sample_gradients(model, params, running, xs, ys, True, 8)
    fd = bench.fd_check(model, params, xs, ys, v, g @ v, eps=1e-3)
    assert fd['corr'] > 0.95 and fd['max_abs_diff_over_max'] < 0.2
    g_eval = bench.per_sample_gradients(model, params, running, xs, ys, False, 8)
    rows = torch.full((1, 8), 1.0 / 8)
    batch = bench.loss_rows_gradients(model, params, running, xs, ys, rows, False)[0]
    assert torch.allclose(g_eval.mean(0), batch, rtol=1e-4, atol=1e-6)


def test_bench_signal_runs(bench, tmp_path, capsys):
    out = tmp_path / 'signal.json'
    record = bench.main(['--shifts', 'invert', 'rotate', '--epochs', '1', '--images', '6',
                         '--bn-batch', '3', '--width', '4', '--size', '16',
                         '--train-per-class', '4', '--val-per-class', '2', '--quiet',
                         '--out', str(out)])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    pairs = dict(p.split('=', 1) for p in lines[-1].split())
    most = pairs.pop('most_first').split(',')
    assert set(pairs) == {f'{r}_{m}_{k}' for r in bench.REWARDS for m in bench.BN_MODES
                          for k in ('first', 'top3')}
    assert all(v.endswith('/2') for v in pairs.values())
    first = {k: int(v.split('/')[0]) for k, v in pairs.items() if k.endswith('_first')}
    best = max(first.values())
    assert most and all(first[f'{k}_first'] == best for k in most)
    saved = json.loads(out.read_text())
    assert saved['summary'] == dict(pairs, most_first=','.join(most))
    assert saved['command'].startswith('benchmarks/bench_signal')
    assert set(saved['versions']) >= {'torch', 'numpy', 'mmengine', 'mmpretrain'}
    assert 'commit' in saved['git'] and 'dirty' in saved['git']
    rows = record['results']
    assert len(rows) == 2 * len(bench.REWARDS) * len(bench.BN_MODES)
    for row in rows:
        assert set(row['ops']) == set(row['order']) and len(row['order']) == 15
        assert row['rank'] == row['order'].index(row['undo_op']) + 1
        ts = [row['ops'][op]['t'] for op in row['order']]
        assert ts == sorted(ts, reverse=True)
    (state, ) = saved['states']
    assert 0.0 <= state['clean_test_top1'] <= 1.0 and state['fd_check']['images'] == 3
    assert set(state['cost']['gradients']) == {'train', 'eval', 'clean', 'mixed'}
    assert all(c['per_image_vs_plain_step'] > 0 for c in state['cost']['gradients'].values())


def test_random_signs_give_both_directions_per_image(bench):
    """With a sign seed a signed op turns some images one way and some the other (the
    policy benchmark's shifts and a policy's draws); without one, every image the same."""
    from dada_mm.search.batched_ops import apply_op_batch
    x = torch.zeros(12, 3, 16, 16)
    x[:, :, 4:12, 6:9] = 200.0
    cand = ('Rotate', 5.0 / 6.0)
    pos = apply_op_batch(x, 'Rotate', torch.full((12, ), 5.0 / 6.0), signs=torch.ones(12),
                         channel_order='rgb')
    neg = apply_op_batch(x, 'Rotate', torch.full((12, ), 5.0 / 6.0), signs=-torch.ones(12),
                         channel_order='rgb')
    assert not torch.equal(pos[0], neg[0])
    assert torch.equal(bench.apply_candidate(x, cand), pos)
    out = bench.apply_candidate(x, cand, sign_seed=5)
    is_pos = [torch.equal(o, p) for o, p in zip(out, pos)]
    is_neg = [torch.equal(o, n) for o, n in zip(out, neg)]
    assert all(a != b for a, b in zip(is_pos, is_neg))
    assert 0 < sum(is_pos) < 12
    assert torch.equal(out, bench.apply_candidate(x, cand, sign_seed=5))  # seeded
