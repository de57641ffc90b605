"""The lookahead-signal benchmark (benchmarks/bench_lookahead_signal.py) at tiny sizes: a
trial is real SGD from the state (its held-out loss against a hand-written loop), the
BatchNorm modes do what they say, and the paired statistic by hand.

Imports the benchmark because the benchmark itself is what is tested here.
"""
import copy
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F


@pytest.fixture(scope='module')
def bench(load_benchmark):
    return load_benchmark('bench_lookahead_signal')


@pytest.fixture(scope='module', autouse=True)
def single_thread():
    """The module runs on one thread (its setting is trained there); the count before it
    is put back when the module ends."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='module')
def setting(bench, single_thread):
    x, y = bench.digits_tensors(16)
    idx = bench.split(y, 4, 2, 0)
    xt, yt = x[idx['train']], y[idx['train']]
    xv, yv = x[idx['val']], y[idx['val']]
    model = bench.build_model(4, 0)
    (state, ) = bench.train_states(model, xt, yt, [1], 8, 0.05, 0)
    return model, state, xt, yt, xv, yv


def test_paired_t_by_hand(bench):
    d = np.array([1.0, 2.0, 4.0, 5.0])
    s = bench.paired_t(d)
    sd = math.sqrt((4 + 1 + 1 + 4) / 3)
    assert s['mean'] == pytest.approx(3.0)
    assert s['se'] == pytest.approx(sd / 2)
    assert s['t'] == pytest.approx(3.0 / (sd / 2))
    assert bench.paired_t(-d)['t'] == pytest.approx(-s['t'])


def test_trial_is_plain_sgd_from_the_state(bench, setting):
    """The trial's held-out loss equals a hand-written SGD loop on the same batches, and
    a trial with other batches (or another op) gives another loss."""
    model, state, xt, yt, xv, yv = setting
    batches = [torch.tensor([0, 3, 5, 7]), torch.tensor([1, 2, 8, 9])]
    seeds = [11, 12]
    cand = ('Rotate', 0.8)
    got = bench.trial(model, state, cand, batches, seeds, xt, yt, xv, yv, 0.1, 'train')

    ref = copy.deepcopy(model)
    bench.load_state(ref, state['tensors'])
    ref.train()
    for idx, seed in zip(batches, seeds):
        x = bench.apply_candidate(xt[idx], cand, sign_seed=seed)
        loss = F.cross_entropy(ref(bench.normalise(x), mode='tensor'), yt[idx])
        grads = torch.autograd.grad(loss, list(ref.parameters()))
        with torch.no_grad():
            for p, g in zip(ref.parameters(), grads):
                p -= 0.1 * g
    ref.eval()
    with torch.no_grad():
        want = float(F.cross_entropy(ref(bench.normalise(xv), mode='tensor'), yv))
    assert got == pytest.approx(want, rel=1e-5)
    clean = bench.trial(model, state, ('clean', 0.0), batches, seeds, xt, yt, xv, yv, 0.1,
                        'train')
    assert clean != pytest.approx(got, rel=1e-4)


def test_bn_modes(bench, setting):
    """'train' moves the running statistics, 'train_keepstats' puts them back, 'eval'
    never moves them; with lr 0 only 'train' changes the held-out loss."""
    model, state, xt, yt, xv, yv = setting
    batches, seeds = [torch.arange(8)], [3]
    bench.load_state(model, state['tensors'])
    base = bench.held_out_loss(model, xv, yv)
    losses = {m: bench.trial(model, state, ('Invert', 0.5), batches, seeds, xt, yt, xv, yv,
                             0.0, m) for m in bench.BN_MODES}
    assert losses['eval'] == pytest.approx(base, rel=1e-6)
    assert losses['train_keepstats'] == pytest.approx(base, rel=1e-6)
    assert abs(losses['train'] - base) > 1e-4


def test_main_at_tiny_size_writes_its_results(bench, tmp_path, capsys):
    out = tmp_path / 'lookahead.json'
    record = bench.main(['--shifts', 'rotate', '--epochs', '1', '--repeats', '2', '--steps',
                         '1', '--train-per-class', '4', '--val-per-class', '2',
                         '--bn-modes', 'eval', '--trial-lr', '0.005', '--out', str(out)])
    saved = json.loads(out.read_text())
    assert saved['provenance']['command'] and saved['args']['trial_lr'] == 0.005
    (row, ) = saved['results']
    assert row['shift'] == 'rotate' and row['undo_op'] == 'Rotate' and row['epochs'] == 1
    assert sorted(row['order']) == sorted(row['ops']) and len(row['ops']) == 15
    assert 1 <= row['rank'] <= 15 and row['order'][row['rank'] - 1] == 'Rotate'
    assert record['summary']['lookahead_eval_first'] in ('0/1', '1/1')
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith('lookahead_eval_diverged=')
