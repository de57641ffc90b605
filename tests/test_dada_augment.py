"""`DADAAugment`: registries/configs, policy forms, sampling semantics, image kinds."""
import copy
import os
import os.path as osp
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

import dada_mm  # noqa: F401
from dada_mm.policy import PolicyError, load_preset, save_policy_file
from dada_mm.search_space import CUTOUT_FILL_RGB, GEOMETRIC_OPS, OP_NAMES, get_op, scale_level
from dada_mm.transforms import DADAAugment
from dada_mm.transforms.image_ops import apply_op

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
EXAMPLE = [[dict(op='ShearX', prob=0.5, magnitude=0.7),
            dict(op='Color', prob=0.3, magnitude=0.2)]]
LEVELLED = ('ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate', 'Solarize',
            'Posterize', 'Contrast', 'Color', 'Brightness', 'Sharpness', 'Cutout')


def rand_img(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def run(t, img, seed=None):
    if seed is not None:
        np.random.seed(seed)
    return t(dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2]))


def replay(t, img, seed, fill=0, cutout_fill=(114, 123, 125), channel_order='bgr'):
    """Expected output: replay ``DADAAugment._draw``'s documented order with ``seed``:
    randint(n_sub_policies), then per op: rand (apply), rand (sign), rand, rand (centre).
    """
    np.random.seed(seed)
    index = int(np.random.randint(len(t._scaled_sub_policies)))
    draws = []
    for _ in t._scaled_sub_policies[index]:
        u = float(np.random.rand())
        sign = 1.0 if np.random.rand() < 0.5 else -1.0
        center = (float(np.random.rand()), float(np.random.rand()))
        draws.append((u, sign, center))
    out, applied = img, []
    for (name, prob, level), (u, sign, center) in zip(t._scaled_sub_policies[index], draws):
        if u < prob:
            out = apply_op(out, name, level, sign=sign, center=center, fill=fill,
                           cutout_fill=cutout_fill, channel_order=channel_order)
            applied.append(name)
    return index, out, applied


@pytest.fixture(autouse=True)
def isolated_default_scope(monkeypatch):
    """Scopes created by a test (init_default_scope) do not leak into other tests."""
    monkeypatch.setattr(DefaultScope, '_instance_dict', dict(DefaultScope._instance_dict))


@pytest.fixture
def mmdet_lookup(monkeypatch):
    """mmdet's TRANSFORMS registry lazily imports ``mmdet.datasets``, which needs mmcv's
    compiled ops; without them, skip only that lazy import (the lookup through the
    registry tree is what is tested here)."""
    import mmdet.registry
    try:
        import mmcv._ext  # noqa: F401
    except ImportError:
        monkeypatch.setattr(mmdet.registry.TRANSFORMS, 'import_from_location',
                            lambda: None)
    return mmdet.registry.TRANSFORMS


# --------------------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------------------
def _check_built(t):
    assert type(t) is DADAAugment
    img = rand_img((9, 11, 3))
    out = run(t, img.copy(), seed=3)['img']
    _, want, _ = replay(t, img, 3)
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet'])
def test_build_from_registries(scope, mmdet_lookup):
    import mmpretrain.registry
    registries = {'mmpretrain': mmpretrain.registry.TRANSFORMS, 'mmdet': mmdet_lookup}
    cfg = dict(type='DADAAugment', policy=copy.deepcopy(EXAMPLE))
    with DefaultScope.overwrite_default_scope(scope):
        assert DefaultScope.get_current_instance().scope_name == scope
        for registry in registries.values():
            _check_built(registry.build(copy.deepcopy(cfg)))
        pipe = Compose([copy.deepcopy(cfg)])
        assert len(pipe.transforms) == 1
        _check_built(pipe.transforms[0])


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet'])
def test_build_with_init_default_scope(scope, mmdet_lookup):
    import mmpretrain.registry
    init_default_scope(scope)
    assert DefaultScope.get_current_instance().scope_name == scope
    reg = mmpretrain.registry.TRANSFORMS if scope == 'mmpretrain' else mmdet_lookup
    _check_built(reg.build(dict(type='DADAAugment', policy='dada-imagenet', top_k=3)))


def test_compose_pipeline_on_dict_input(monkeypatch):
    monkeypatch.setattr(DefaultScope, '_instance_dict', {})  # no default scope at all
    assert DefaultScope.get_current_instance() is None
    pipe = Compose([
        dict(type='DADAAugment', policy=copy.deepcopy(EXAMPLE)),
        dict(type='DADAAugment', policy=[[dict(op='Invert', prob=1.0, magnitude=0.0)]]),
    ])
    img = rand_img((8, 6, 3), seed=1)
    np.random.seed(11)
    out = pipe(dict(img=img.copy()))
    _, want, _ = replay(pipe.transforms[0], img, 11)
    np.testing.assert_array_equal(out['img'], 255 - want)
    assert out['img_shape'] == (8, 6)
    assert out['dada_applied_ops'] == ['Invert']


def test_config_with_custom_imports(tmp_path):
    """A fresh interpreter: only ``custom_imports`` imports dada_mm."""
    cfg_path = tmp_path / 'cfg.py'
    cfg_path.write_text(textwrap.dedent(f"""
        custom_imports = dict(imports=['dada_mm'], allow_failed_imports=False)
        default_scope = 'mmpretrain'
        pipeline = [dict(type='DADAAugment', policy={EXAMPLE!r}, magnitude_scale=2.0),
                    dict(type='DADAAugment', policy='dada-cifar100', top_k=2)]
    """))
    script = textwrap.dedent(f"""
        import sys
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        assert 'dada_mm' not in sys.modules
        cfg = Config.fromfile({str(cfg_path)!r})
        assert 'dada_mm' in sys.modules
        init_default_scope(cfg.default_scope)
        from mmcv.transforms import Compose
        from mmpretrain.registry import TRANSFORMS
        a = TRANSFORMS.build(cfg.pipeline[0])
        pipe = Compose(cfg.pipeline)
        print(type(a).__module__, a.magnitude_scale, len(pipe.transforms[1].sub_policies))
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [REPO] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
    proc = subprocess.run([sys.executable, '-c', script], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-3:] == ['dada_mm.transforms.dada_augment', '2.0', '2']


def test_config_in_process(tmp_path):
    cfg_path = tmp_path / 'cfg.py'
    cfg_path.write_text(textwrap.dedent(f"""
        custom_imports = dict(imports=['dada_mm'], allow_failed_imports=False)
        pipeline = [dict(type='DADAAugment', policy={EXAMPLE!r}, fill=(1, 2, 3),
                         cutout_fill=(10, 20, 30), interpolation='bilinear',
                         channel_order='rgb')]
    """))
    cfg = Config.fromfile(str(cfg_path))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        t = Compose(cfg.pipeline).transforms[0]
    assert (t.fill, t.cutout_fill) == ((1, 2, 3), (10, 20, 30))
    assert (t.interpolation, t.channel_order) == ('bilinear', 'rgb')
    assert t.sub_policies == EXAMPLE


# --------------------------------------------------------------------------------------
# policy forms
# --------------------------------------------------------------------------------------
def test_policy_forms_agree(tmp_path):
    path = save_policy_file(tmp_path / 'p.json', EXAMPLE, {'source': 'test'})
    forms = {
        'inline': DADAAugment(policy=copy.deepcopy(EXAMPLE)),
        'file': DADAAugment(policy=str(path)),
        'doc': DADAAugment(policy={'version': 1, 'sub_policies': EXAMPLE,
                                   'meta': {'source': 'doc'}}),
        'tuple': DADAAugment(policy=tuple(tuple(s) for s in EXAMPLE)),
    }
    for name, t in forms.items():
        assert t.sub_policies == EXAMPLE, name
        assert t._scaled_sub_policies == [[('ShearX', 0.5, 0.7), ('Color', 0.3, 0.2)]], name
    assert forms['file'].policy_meta == {'source': 'test'}
    assert forms['doc'].policy_meta == {'source': 'doc'}
    img = rand_img((10, 10, 3))
    outs = [run(t, img.copy(), seed=5)['img'] for t in forms.values()]
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])


def test_preset_and_top_k():
    full = DADAAugment(policy='dada-imagenet')
    preset = load_preset('dada-imagenet')['sub_policies']
    assert full.sub_policies == preset and len(full.sub_policies) == 25
    for k in (1, 7, 25, 100):
        t = DADAAugment(policy='dada-imagenet', top_k=k)
        assert t.sub_policies == preset[:k]
        assert len(t._scaled_sub_policies) == min(k, 25)
    t = DADAAugment(policy='dada-imagenet', top_k=1)
    img = rand_img((6, 6, 3))
    assert {run(t, img.copy(), seed=s)['dada_sub_policy'] for s in range(30)} == {0}
    assert DADAAugment().sub_policies == preset  # the default policy


@pytest.mark.parametrize('top_k', [0, -1, 1.5, True, '3'])
def test_bad_top_k(top_k):
    with pytest.raises(PolicyError, match='top_k'):
        DADAAugment(policy='dada-svhn', top_k=top_k)


def test_bad_policy_argument():
    with pytest.raises(PolicyError, match='dada-cifar10'):
        DADAAugment(policy='no-such-policy')
    with pytest.raises(PolicyError, match='valid ops'):
        DADAAugment(policy=[[dict(op='Blur', prob=0.5, magnitude=0.5)]])


# --------------------------------------------------------------------------------------
# semantics
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize('ops', [
    [('Rotate', 0.8), ('Cutout', 0.6)],
    [('ShearX', 0.9), ('Solarize', 0.3)],
    [('TranslateY', 0.1), ('Color', 0.9)],
    [('Equalize', 0.4), ('TranslateX', 0.75)],
    [('Sharpness', 0.2), ('ShearY', 0.05), ('Posterize', 0.0)],
])
def test_prob_one_equals_apply_op(ops):
    t = DADAAugment(policy=[[dict(op=o, prob=1.0, magnitude=m) for o, m in ops]])
    img = rand_img((17, 23, 3), seed=2)
    signs = set()
    for seed in range(8):
        res = run(t, img.copy(), seed)
        index, want, applied = replay(t, img, seed)
        assert index == 0 and applied == [o for o, _ in ops]
        np.testing.assert_array_equal(res['img'], want)
        assert res['dada_applied_ops'] == applied
        assert not np.array_equal(res['img'], img)
        # the drawn sign is the one the output shows
        np.random.seed(seed)
        np.random.randint(1)
        np.random.rand()
        signs.add(np.random.rand() < 0.5)
    assert signs == {True, False}  # both signs were exercised


def test_signs_matter():
    """A replay with the opposite sign gives a different image (the sign is used)."""
    t = DADAAugment(policy=[[dict(op='Rotate', prob=1.0, magnitude=0.9)]])
    img = rand_img((15, 15, 3), seed=4)
    np.random.seed(0)
    np.random.randint(1)
    np.random.rand()
    sign = 1.0 if np.random.rand() < 0.5 else -1.0
    out = run(t, img.copy(), 0)['img']
    np.testing.assert_array_equal(out, apply_op(img, 'Rotate', 0.9, sign=sign))
    assert not np.array_equal(out, apply_op(img, 'Rotate', 0.9, sign=-sign))


def test_prob_zero_is_identity():
    t = DADAAugment(policy=[[dict(op=o, prob=0.0, magnitude=1.0)] for o in OP_NAMES])
    img = rand_img((12, 9, 3))
    for seed in range(40):
        res = run(t, img.copy(), seed)
        np.testing.assert_array_equal(res['img'], img)
        assert res['dada_applied_ops'] == []
        assert 'homography_matrix' not in res


def test_uniform_sub_policy_choice():
    n_sub, n = 5, 5000
    t = DADAAugment(policy=[[dict(op=o, prob=0.0, magnitude=0.5)]
                            for o in OP_NAMES[:n_sub]])
    img = rand_img((1, 1, 3))
    np.random.seed(123)
    counts = np.bincount([t(dict(img=img))['dada_sub_policy'] for _ in range(n)],
                         minlength=n_sub)
    p = 1 / n_sub
    sd = np.sqrt(n * p * (1 - p))
    assert counts.sum() == n and len(counts) == n_sub
    assert np.all(np.abs(counts - n * p) < 4.5 * sd), counts


def test_per_op_frequency_matches_prob():
    probs = {'Invert': 0.2, 'Brightness': 0.65, 'AutoContrast': 0.9}
    t = DADAAugment(policy=[[dict(op=o, prob=p, magnitude=1.0)
                             for o, p in probs.items()]])
    img = rand_img((2, 2, 3))
    n = 3000
    hits = dict.fromkeys(probs, 0)
    both = 0
    np.random.seed(7)
    for _ in range(n):
        applied = t(dict(img=img.copy()))['dada_applied_ops']
        for name in applied:
            hits[name] += 1
        both += ('Invert' in applied and 'Brightness' in applied)
    for name, p in probs.items():
        sd = np.sqrt(n * p * (1 - p))
        assert abs(hits[name] - n * p) < 4.5 * sd, (name, hits[name])
    # independent draws: joint frequency ~ product
    p = probs['Invert'] * probs['Brightness']
    assert abs(both - n * p) < 4.5 * np.sqrt(n * p * (1 - p)), both


def test_applied_ops_report_matches_image():
    t = DADAAugment(policy=[[dict(op='Invert', prob=0.5, magnitude=0.0)]])
    img = rand_img((4, 4, 3))
    seen = set()
    for seed in range(30):
        res = run(t, img.copy(), seed)
        inverted = res['dada_applied_ops'] == ['Invert']
        seen.add(inverted)
        np.testing.assert_array_equal(res['img'], 255 - img if inverted else img)
    assert seen == {True, False}


def test_same_seed_same_output_different_seed_differs():
    t = DADAAugment(policy='dada-cifar10')
    img = rand_img((32, 32, 3), seed=9)
    a = run(t, img.copy(), 1234)
    b = run(t, img.copy(), 1234)
    np.testing.assert_array_equal(a['img'], b['img'])
    assert a['dada_sub_policy'] == b['dada_sub_policy']
    outs = [run(t, img.copy(), s)['img'].tobytes() for s in range(12)]
    assert len(set(outs)) >= 8
    # the input array is not modified in place
    np.testing.assert_array_equal(img, rand_img((32, 32, 3), seed=9))


# --------------------------------------------------------------------------------------
# image kinds
# --------------------------------------------------------------------------------------
SHAPES = [(13, 10), (13, 10, 1), (13, 10, 3), (13, 10, 4), (1, 1), (1, 1, 3), (1, 1, 4),
          (7, 1, 3), (1, 9), (5, 3, 1)]


@pytest.mark.parametrize('shape', SHAPES, ids=str)
@pytest.mark.parametrize('name', OP_NAMES)
def test_every_op_every_shape(shape, name):
    t = DADAAugment(policy=[[dict(op=name, prob=1.0, magnitude=0.85)]])
    img = rand_img(shape, seed=3)
    res = run(t, img.copy(), 21)
    out = res['img']
    assert out.shape == img.shape and out.dtype == np.uint8
    assert res['img_shape'] == shape[:2]
    assert res['dada_applied_ops'] == [name]
    if len(shape) == 3 and shape[2] == 4:
        _, colour, _ = replay(t, img[..., :3], 21)
        np.testing.assert_array_equal(out[..., :3], colour)
        if name in GEOMETRIC_OPS:
            np.random.seed(21)
            np.random.randint(1)
            np.random.rand()
            sign = 1.0 if np.random.rand() < 0.5 else -1.0
            alpha = apply_op(img[..., 3:], name, 0.85, sign=sign, fill=255)
            np.testing.assert_array_equal(out[..., 3:], alpha.reshape(shape[:2] + (1,)))
        else:  # alpha is kept out of colour ops and Cutout
            np.testing.assert_array_equal(out[..., 3], img[..., 3])
    else:
        gray_fill = 125 if len(shape) == 2 or shape[2] == 1 else (114, 123, 125)
        _, want, _ = replay(t, img, 21, cutout_fill=gray_fill)
        np.testing.assert_array_equal(out, want)


def test_geometric_alpha_fill_is_opaque():
    t = DADAAugment(policy=[[dict(op='TranslateX', prob=1.0, magnitude=1.0)]])
    img = np.zeros((6, 10, 4), np.uint8)
    img[..., 3] = 7
    out = run(t, img.copy(), 0)['img']
    # a 0.45 * 10 px shift: 4 columns filled with (0, 0, 0) colour and opaque alpha
    assert (out[..., 3] == 255).sum() == 6 * 4
    assert (out[..., 3] == 7).sum() == 6 * 6


@pytest.mark.parametrize('make_view', [
    lambda a: a[::2, ::3],
    lambda a: a[:, :, ::-1],
    lambda a: a.transpose(1, 0, 2),
    lambda a: a[3:20, 5:, 1],
    lambda a: a[1:-1, ::-2, 0:1],
], ids=['strided', 'channel-flip', 'transposed', 'gray-slice', 'neg-stride-1ch'])
def test_non_contiguous_inputs(make_view):
    big = rand_img((31, 29, 3), seed=6)
    view = make_view(big)
    assert not view.flags['C_CONTIGUOUS']
    policy = [[dict(op='Rotate', prob=1.0, magnitude=0.9),
               dict(op='Cutout', prob=1.0, magnitude=0.8)],
              [dict(op='Equalize', prob=1.0, magnitude=0.5),
               dict(op='ShearY', prob=1.0, magnitude=0.2)],
              [dict(op='Sharpness', prob=1.0, magnitude=0.9),
               dict(op='TranslateX', prob=1.0, magnitude=0.3)]]
    t = DADAAugment(policy=policy)
    before = big.copy()
    for seed in range(6):
        a = run(t, view, seed)['img']
        b = run(t, np.ascontiguousarray(view), seed)['img']
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(big, before)


@pytest.mark.parametrize('dtype', [np.float32, np.float64, np.uint16, np.int32])
def test_non_uint8_is_type_error(dtype):
    t = DADAAugment(policy=EXAMPLE)
    with pytest.raises(TypeError) as e:
        t(dict(img=np.zeros((4, 4, 3), dtype)))
    assert np.dtype(dtype).name in str(e.value) and 'uint8' in str(e.value)
    with pytest.raises(TypeError, match='numpy array'):
        t(dict(img=[[0, 1], [2, 3]]))


@pytest.mark.parametrize('shape', [(4, 4, 2), (4, 4, 5), (4,), (2, 2, 2, 3), (0, 4, 3)])
def test_bad_shapes(shape):
    with pytest.raises(ValueError, match='shape'):
        DADAAugment(policy=EXAMPLE)(dict(img=np.zeros(shape, np.uint8)))


@pytest.mark.parametrize('kwargs,field', [
    (dict(interpolation='linear'), 'interpolation'),
    (dict(interpolation='BILINEAR'), 'interpolation'),
    (dict(channel_order='BGR'), 'channel_order'),
    (dict(channel_order='gray'), 'channel_order'),
    (dict(magnitude_scale=-0.5), 'magnitude_scale'),
    (dict(magnitude_scale=float('nan')), 'magnitude_scale'),
    (dict(magnitude_scale=float('inf')), 'magnitude_scale'),
    (dict(magnitude_scale='1'), 'magnitude_scale'),
    (dict(magnitude_scale=True), 'magnitude_scale'),
    (dict(fill=256), 'fill'),
    (dict(fill=-1), 'fill'),
    (dict(fill=(0, 0, 300)), 'fill'),
    (dict(fill=(0, 0)), 'fill'),
    (dict(fill=1.5), 'fill'),
    (dict(cutout_fill=(0, -1, 0)), 'cutout_fill'),
    (dict(cutout_fill=(256, 0, 0)), 'cutout_fill'),
    (dict(cutout_fill=300), 'cutout_fill'),
    (dict(top_k=0), 'top_k'),
])
def test_bad_options(kwargs, field):
    with pytest.raises(ValueError) as e:
        DADAAugment(policy=EXAMPLE, **kwargs)
    assert field in str(e.value), str(e.value)


def test_int_cutout_fill():
    t = DADAAugment(policy=[[dict(op='Cutout', prob=1.0, magnitude=1.0)]], cutout_fill=77)
    out = run(t, np.zeros((20, 20, 3), np.uint8), 0)['img']
    assert set(np.unique(out)) == {0, 77}


# --------------------------------------------------------------------------------------
# magnitude_scale
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize('name', LEVELLED)
def test_magnitude_scale_zero_is_identity(name):
    img = rand_img((16, 12, 3), seed=8)
    for m in (0.0, 0.3, 0.5, 1.0):
        t = DADAAugment(policy=[[dict(op=name, prob=1.0, magnitude=m)]],
                        magnitude_scale=0)
        assert t._scaled_sub_policies[0][0][2] == get_op(name).identity_level
        for seed in range(3):
            res = run(t, img.copy(), seed)
            assert res['dada_applied_ops'] == [name]
            np.testing.assert_array_equal(res['img'], img)


@pytest.mark.parametrize('name', ['AutoContrast', 'Invert', 'Equalize'])
def test_magnitude_scale_leaves_levelless_ops(name):
    img = np.random.default_rng(0).integers(100, 140, (32, 32, 3), dtype=np.uint8)
    a = DADAAugment(policy=[[dict(op=name, prob=1.0, magnitude=0.3)]], magnitude_scale=0)
    b = DADAAugment(policy=[[dict(op=name, prob=1.0, magnitude=0.3)]])
    np.testing.assert_array_equal(run(a, img.copy(), 0)['img'], run(b, img.copy(), 0)['img'])
    assert not np.array_equal(run(a, img.copy(), 0)['img'], img)


@pytest.mark.parametrize('name,m', [('Rotate', 0.6), ('ShearX', 0.4), ('Contrast', 0.7),
                                    ('Solarize', 0.8), ('Cutout', 0.3),
                                    ('Brightness', 0.9), ('TranslateY', 0.2)])
def test_magnitude_scale_two_doubles_deviation(name, m):
    op = get_op(name)
    t = DADAAugment(policy=[[dict(op=name, prob=1.0, magnitude=m)]], magnitude_scale=2)
    level = t._scaled_sub_policies[0][0][2]
    assert level == scale_level(op, m, 2.0)
    want_level = min(max(op.identity_level + 2 * (m - op.identity_level), 0.0), 1.0)
    assert level == pytest.approx(want_level, abs=1e-12)
    if 0 < want_level < 1:  # not clipped: deviation exactly doubled
        assert level - op.identity_level == pytest.approx(2 * (m - op.identity_level))
    img = rand_img((21, 19, 3), seed=10)
    out = run(t, img.copy(), 4)['img']
    _, want, _ = replay(DADAAugment(policy=[[dict(op=name, prob=1.0,
                                                  magnitude=want_level)]]), img, 4)
    np.testing.assert_array_equal(out, want)
    _, unscaled, _ = replay(DADAAugment(policy=[[dict(op=name, prob=1.0, magnitude=m)]]),
                            img, 4)
    assert not np.array_equal(out, unscaled)


def test_magnitude_scale_clips_to_unit_range():
    t = DADAAugment(policy=[[dict(op='Rotate', prob=1.0, magnitude=0.9),
                             dict(op='Solarize', prob=1.0, magnitude=0.2)]],
                    magnitude_scale=5)
    assert [lvl for _, _, lvl in t._scaled_sub_policies[0]] == [1.0, 0.0]


# --------------------------------------------------------------------------------------
# channel order
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize('order,expected', [('bgr', (114, 123, 125)),
                                            ('rgb', (125, 123, 114))])
def test_cutout_fill_in_channel_order(order, expected):
    assert CUTOUT_FILL_RGB == (125, 123, 114)
    t = DADAAugment(policy=[[dict(op='Cutout', prob=1.0, magnitude=1.0)]],
                    channel_order=order)
    img = np.zeros((40, 40, 3), np.uint8)
    out = run(t, img, 0)['img']
    filled = out[np.any(out != 0, axis=2)]
    assert len(filled) >= 8 * 8  # side 0.2 * 40 = 8 px, clipped at most to a quarter
    assert {tuple(int(v) for v in px) for px in filled} == {expected}
    # a custom (R, G, B) fill and the geometric fill are also arranged per order
    t = DADAAugment(policy=[[dict(op='Cutout', prob=1.0, magnitude=1.0)]],
                    channel_order=order, cutout_fill=(1, 2, 3))
    px = {tuple(int(v) for v in p) for p in run(t, img, 0)['img'].reshape(-1, 3)}
    assert px == {(0, 0, 0), (3, 2, 1) if order == 'bgr' else (1, 2, 3)}
    t = DADAAugment(policy=[[dict(op='TranslateX', prob=1.0, magnitude=1.0)]],
                    channel_order=order, fill=(10, 20, 30))
    px = {tuple(int(v) for v in p) for p in run(t, img, 0)['img'].reshape(-1, 3)}
    assert px == {(0, 0, 0), (30, 20, 10) if order == 'bgr' else (10, 20, 30)}


@pytest.mark.parametrize('order', ['bgr', 'rgb'])
@pytest.mark.parametrize('shape', [(30, 30), (30, 30, 1)])
def test_gray_fill_does_not_depend_on_channel_order(order, shape):
    """Gray images take the R value of an (R, G, B) fill, like ``apply_op``'s default."""
    t = DADAAugment(policy=[[dict(op='Cutout', prob=1.0, magnitude=1.0)]],
                    channel_order=order)
    out = run(t, np.zeros(shape, np.uint8), 0)['img']
    assert set(np.unique(out)) == {0, 125}
    t = DADAAugment(policy=[[dict(op='TranslateY', prob=1.0, magnitude=1.0)]],
                    channel_order=order, fill=(10, 20, 30))
    out = run(t, np.zeros(shape, np.uint8), 0)['img']
    assert set(np.unique(out)) == {0, 10}


def test_repr_mentions_settings():
    r = repr(DADAAugment(policy='dada-cifar10', top_k=4, magnitude_scale=0.5))
    assert 'num_sub_policies=4' in r and 'magnitude_scale=0.5' in r
