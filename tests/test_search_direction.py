"""The search moves the policy the right way on a planted toy (a flipped sign fails).

Real digits (scikit-learn's, 32 px); the held-out images are darkened (PIL brightness
0.3), the training images are not. Brightness at a level below 0.5 reproduces the shift,
so it helps the held-out loss; Invert (white background) clearly hurts it. After a short
search through the real hook and runner: the sub-policies holding Brightness are
selected more than the rest and those holding Invert less, Brightness' apply probability
rose and Invert's fell, and Brightness' level went down from 0.5. Flipping the sign of
the reward (alpha, p) or of the magnitude gradient (m) in the hook reverses these.
"""
import importlib.util
import os.path as osp

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_bench():
    spec = importlib.util.spec_from_file_location(
        'bench_policy', osp.join(REPO, 'benchmarks', 'bench_policy.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def searched(tmp_path_factory):
    from mmengine.config import Config
    from mmengine.runner import Runner
    from dada_mm.datasets.digits import make_digits_set
    bench = load_bench()
    work = tmp_path_factory.mktemp('direction')
    root = str(work / 'digits')
    make_digits_set(root, train_per_class=40, shifts=('clean', 'dark'))
    opts = type('Args', (), dict(width=8, lr=0.05, batch_size=32, search_epochs=12,
                                 hook_options=dict(share_ops=True)))()
    cfg = bench.search_cfg(opts, root, 'dark', 0, str(work / 'search'))
    threads = torch.get_num_threads()
    try:
        runner = Runner.from_cfg(Config(cfg))
        runner.train()
    finally:
        torch.set_num_threads(threads)
    hook = [h for h in runner.hooks if type(h).__name__ == 'DADASearchHook'][0]
    return bench, hook


def test_helpful_op_is_favoured(searched):
    bench, hook = searched
    s = bench.undo_op_summary(hook.policy, 'Brightness')
    assert hook.updates > 0 and hook.skipped_updates == 0
    assert s['selection_ratio'] > 1.05, s
    assert s['mean_prob'] > 0.55, s
    assert s['mean_magnitude'] < 0.45, s


def test_harmful_op_is_avoided(searched):
    bench, hook = searched
    s = bench.undo_op_summary(hook.policy, 'Invert')
    assert s['selection_ratio'] < 0.95, s
    assert s['mean_prob'] < 0.45, s
