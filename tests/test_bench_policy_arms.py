"""The policy benchmark's ``op`` arm (a smoke test of benchmarks/bench_policy.py): the op
that undoes a planted shift, alone, must reproduce that shift on a training image."""
import os.path as osp
import sys

import numpy as np
import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))

import bench_policy  # noqa: E402


@pytest.mark.parametrize('variant', ['rotate', 'shear', 'translate', 'dark', 'invert'])
def test_op_arm_reproduces_the_planted_shift(variant):
    """Every augmented image is the planted shift of that image (for a signed op, with one
    sign or the other, as the shift draws one per image), and about half are augmented."""
    from PIL import Image

    from dada_mm.datasets.digits import SHIFT_OPS, SHIFTS
    from dada_mm.transforms import DADAAugment
    from dada_mm.transforms.image_ops import apply_op
    (t, ) = bench_policy.arm_transforms('op', None, variant)
    aug = DADAAugment(**{k: v for k, v in t.items() if k != 'type'}, channel_order='rgb')
    yy, xx = np.mgrid[:16, :16]
    img = np.zeros((16, 16, 3), np.uint8)
    img[((yy - 8) ** 2 + (xx - 6) ** 2 < 20) | ((xx > 9) & (xx < 12))] = 220
    op, level = SHIFT_OPS[variant]
    signs = (1.0, -1.0) if level is not None else (1.0, )
    either_way = [apply_op(img, op, 0.5 if level is None else level, sign=s,
                           channel_order='rgb') for s in signs]
    shifted = np.asarray(SHIFTS[variant](Image.fromarray(img)))
    assert any(np.array_equal(shifted, w) for w in either_way)
    assert not any(np.array_equal(img, w) for w in either_way)
    applied = 0
    for seed in range(40):
        np.random.seed(seed)
        out = aug(dict(img=img.copy()))['img']
        if not np.array_equal(out, img):
            assert any(np.array_equal(out, w) for w in either_way), variant
            applied += 1
    assert 8 <= applied <= 32  # p = 0.5


def test_op_arm_needs_a_planted_variant():
    with pytest.raises(ValueError, match="arm 'op' needs a planted variant"):
        bench_policy.arm_transforms('op', None, 'natural')


def test_start_arm_is_the_searchs_starting_policy():
    (t, ) = bench_policy.arm_transforms('start', None)
    assert len(t['policy']) == 105
    assert {(o['prob'], o['magnitude']) for sub in t['policy'] for o in sub} == {(0.5, 0.5)}
    options = {'learner': {'init': {'signed_magnitude': 0.75, 'prob': 0.4}}}
    (t, ) = bench_policy.arm_transforms('start', None, 'natural', options)
    signed = {'ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate'}
    for sub in t['policy']:
        for o in sub:
            assert o['prob'] == 0.4
            assert o['magnitude'] == (0.75 if o['op'] in signed else 0.5), o


def test_random25_arm_draws_25_of_the_files_sub_policies(tmp_path):
    """The control for the search's ranking: 25 distinct sub-policies of the file, with
    their p and levels unchanged, the same for a seed and different across seeds; a file
    of 25 (the hook's default top_k) is refused, naming the option that exports more."""
    from dada_mm.policy.policy_file import save_policy_file
    from dada_mm.search_space import SUB_POLICIES
    subs = [[dict(op=op, prob=round(0.01 * (k % 97), 2), magnitude=round(0.005 * k, 3))
             for op in pair] for k, pair in enumerate(SUB_POLICIES)]
    path = str(tmp_path / 'all.json')
    save_policy_file(path, subs, {})
    picked = bench_policy.random_subset(path, seed=3)
    assert len(picked) == 25
    keys = [tuple((o['op'], o['prob'], o['magnitude']) for o in sub) for sub in picked]
    every = {tuple((o['op'], o['prob'], o['magnitude']) for o in sub) for sub in subs}
    assert len(set(keys)) == 25 and set(keys) <= every
    assert picked == bench_policy.random_subset(path, seed=3)
    assert picked != bench_policy.random_subset(path, seed=4)
    (t, ) = bench_policy.arm_transforms('random25', path)
    assert t == dict(type='DADAAugment', policy=path)
    top = str(tmp_path / 'top.json')
    save_policy_file(top, subs[:25], {})
    with pytest.raises(ValueError, match='"top_k": 105'):
        bench_policy.random_subset(top, seed=0)


def test_planted_level_criterion_counts_from_the_start_level():
    def verdict(level, start=None):
        info = dict(selection_ratio=2.0, in_top25=10, in_top25_chance=3.3, mean_prob=0.9,
                    mean_magnitude=level, target_level=0.833)
        if start is not None:
            info['start_level'] = start
        return bench_policy.planted_found(dict(ops={'Rotate': info}))
    assert verdict(0.70) and verdict(0.25)  # closer than 0.5 was (0.25 mirrors 0.75)
    assert not verdict(0.5)  # (for a signed op 0.5 is the farthest level from any shift)
    # from 0.6 (0.233 away): closer, or within 0.1
    assert verdict(0.65, start=0.6) and verdict(0.3, start=0.6) and verdict(0.93, start=0.6)
    assert not verdict(0.55, start=0.6)
    assert not verdict(0.6, start=0.6)


@pytest.mark.parametrize('options,expected', [
    (None, dict(alpha=1e-3, prob=0.5, magnitude=0.5)),
    ({'type': 'PaperDADASearchHook'}, dict(alpha=1e-3, prob=0.5, magnitude=0.5)),
    ({'search_begin': 10, 'held_out_norm': 'batch'}, dict(alpha=1e-3, prob=0.5, magnitude=0.5)),
    ({'init': {'signed_magnitude': 0.6}},  # the deprecated flat keyword
     dict(alpha=1e-3, prob=0.5, magnitude=0.5, signed_magnitude=0.6)),
    ({'preset': 'paper', 'learner': {'init': {'prob': 0.3}}},
     dict(alpha=1e-3, prob=0.3, magnitude=0.5)),
])
def test_search_init_reads_every_way_a_results_file_set_the_start(options, expected):
    assert bench_policy.search_init(options) == expected


def test_unweighted_arm_draws_the_files_sub_policies_with_equal_chance(tmp_path):
    """The control for the exported selection weights: the same file, weighted=False."""
    from dada_mm.policy.policy_file import save_policy_file
    from dada_mm.transforms import DADAAugment
    subs = [[dict(op='Invert', prob=1.0, magnitude=0.5)],
            [dict(op='Rotate', prob=1.0, magnitude=0.5)]]
    path = str(tmp_path / 'weighted.json')
    save_policy_file(path, subs, {}, weights=[0.9, 0.1])
    (t, ) = bench_policy.arm_transforms('unweighted', path)
    assert t == dict(type='DADAAugment', policy=path, weighted=False)
    assert DADAAugment(**{k: v for k, v in t.items() if k != 'type'}).weights is None
    (s, ) = bench_policy.arm_transforms('searched', path)
    assert list(DADAAugment(policy=s['policy']).weights) == pytest.approx([0.9, 0.1])
