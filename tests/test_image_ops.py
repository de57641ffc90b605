"""dada_mm.transforms.image_ops against an independent PIL reference (the paper's ops)."""
import math

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from dada_mm.search_space import level_to_value
from dada_mm.testing.pil_ops import pil_op
from dada_mm.transforms import image_ops as io

# ---------------------------------------------------------------------------------------
# Tolerances (against PIL on the same RGB image)
# ---------------------------------------------------------------------------------------
# LUT / bitwise ops and Cutout: PIL's integer (and float32) arithmetic is reproduced, so
# outputs must be identical.
EXACT_OPS = ('AutoContrast', 'Invert', 'Equalize', 'Solarize', 'Posterize', 'Contrast',
             'Brightness', 'Cutout')
# Color / Sharpness blend two images per pixel. PIL truncates a float32 a + f*(b-a); we
# use cv2.addWeighted (x*f + y*(1-f), rounded after a -0.5 shift). Where PIL's float32
# product falls just below an integer (f is not exactly representable, e.g. 1.3 ->
# 1.29999995) the two floors differ by one. Bound: max |diff| <= 1, and such pixels are
# rare: measured 0.02% of values over a 181-factor sweep on noise, none at the levels and
# images of test_rgb_matches_pil.
BLEND_OPS = ('Color', 'Sharpness')
BLEND_MAX_ABS = 1
BLEND_MAX_FRAC = 0.005
# The geometric ops sample by PIL's own nearest rule (16.16 fixed point for shears and
# rotations, double for translations; cv_kernels.nearest_source_indices): identical to PIL.
EXACT_WARPS = ('ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate')

LEVELS = (0.0, 0.1, 0.25, 0.5, 0.73, 0.9, 1.0)
SIGNED = ('ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate')
ALL_OPS = tuple(io.OP_FUNCTIONS)
CUTOUT_CENTERS = ((0.5, 0.5), (0.0, 0.0), (0.99, 0.3), (0.37, 0.81), (0.999, 0.999))
SIZES = ((32, 32), (57, 43), (224, 224))


def textured_image(h, w, seed, channels=3):
    """Gradients + noise + flat blocks: exercises LUTs, histograms and boundaries."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([255 * xx / max(w - 1, 1), 255 * yy / max(h - 1, 1),
                     127.5 + 127.5 * np.sin((xx + yy) / 5.0)], axis=-1)
    img = base[..., :channels] + rng.normal(0, 20, (h, w, channels))
    for _ in range(4):  # flat blocks (Sharpness/Color degenerate regions)
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        img[y0:y0 + h // 4, x0:x0 + w // 4] = rng.integers(0, 256, channels)
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return img if channels > 1 else img[..., 0]


def low_range_image(h, w, seed):
    """Narrow histogram (AutoContrast stretches, Equalize LUT overflows past 255)."""
    rng = np.random.default_rng(seed)
    return rng.integers(60, 110, (h, w, 3), dtype=np.uint8)


# ---------------------------------------------------------------------------------------
# PIL reference (the paper / Fast AutoAugment semantics), on RGB or L images
# ---------------------------------------------------------------------------------------
def pil_reference(arr, name, level, sign=1.0, center=(0.5, 0.5)):
    out = pil_op(Image.fromarray(arr), name, level_to_value(name, level, sign), center)
    return np.asarray(out)


def ours_rgb(rgb, name, level, sign=1.0, center=(0.5, 0.5), order='rgb'):
    """Run our op on the RGB image fed as BGR ('bgr') or RGB ('rgb'); return RGB."""
    if order == 'bgr':
        bgr = rgb[..., ::-1]  # a non-contiguous view, on purpose
        out = io.apply_op(bgr, name, level, sign=sign, center=center,
                          channel_order='bgr')
        assert out.shape == bgr.shape and out.dtype == np.uint8
        return out[..., ::-1]
    out = io.apply_op(rgb, name, level, sign=sign, center=center, channel_order='rgb')
    assert out.shape == rgb.shape and out.dtype == np.uint8
    return out


def pil_affine(name, v, w, h):
    """PIL's output -> input affine data (a, b, c, d, e, f) for the geometric ops."""
    if name == 'ShearX':
        return (1, v, 0, 0, 1, 0)
    if name == 'ShearY':
        return (1, 0, 0, v, 1, 0)
    if name == 'TranslateX':
        return (1, 0, v * w, 0, 1, 0)
    if name == 'TranslateY':
        return (1, 0, 0, 0, 1, v * h)
    # Image.rotate(v): inverse rotation about (w/2, h/2), entries rounded to 15 digits
    t = -math.radians(v)
    a, b = round(math.cos(t), 15), round(math.sin(t), 15)
    d, e = round(-math.sin(t), 15), round(math.cos(t), 15)
    cx, cy = w / 2, h / 2
    return (a, b, a * -cx + b * -cy + cx, d, e, d * -cx + e * -cy + cy)


def check_against_pil(ours, ref, name, context):
    assert ours.shape == ref.shape, context
    diff = np.abs(ours.astype(np.int16) - ref.astype(np.int16))
    if diff.ndim == 3:
        diff = diff.max(axis=2)
    frac = float((diff > 0).mean())
    if name in EXACT_OPS or name in EXACT_WARPS:
        assert diff.max() == 0, f'{context}: {int((diff > 0).sum())} pixels differ'
    elif name in BLEND_OPS:
        assert diff.max() <= BLEND_MAX_ABS, f'{context}: max diff {diff.max()}'
        assert frac <= BLEND_MAX_FRAC, f'{context}: {frac:.4%} pixels differ'
    else:
        raise AssertionError(f'{name}: no comparison rule')
    return frac


def _cases(name):
    signs = (1.0, -1.0) if name in SIGNED else (1.0,)
    centers = CUTOUT_CENTERS if name == 'Cutout' else ((0.5, 0.5),)
    return [(lv, s, c) for lv in LEVELS for s in signs for c in centers]


# ---------------------------------------------------------------------------------------
# against PIL
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize('name', ALL_OPS)
@pytest.mark.parametrize('size', SIZES)
def test_rgb_matches_pil(name, size):
    rgb = textured_image(*size, seed=10 * ALL_OPS.index(name) + SIZES.index(size))
    h, w = size
    for level, sign, center in _cases(name):
        ref = pil_reference(rgb, name, level, sign, center)
        for order in ('bgr', 'rgb'):
            ours = ours_rgb(rgb, name, level, sign, center, order)
            check_against_pil(ours, ref, name,
                              f'{name} {size} level={level} sign={sign} '
                              f'center={center} order={order}')


@pytest.mark.parametrize('name', ('Color', 'Sharpness', 'Contrast', 'Brightness'))
def test_enhance_factor_sweep(name):
    rgb = np.random.default_rng(21).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    pil = Image.fromarray(rgb)
    enhancer = getattr(ImageEnhance, name)(pil)
    fn = getattr(io, name.lower())
    kwargs = {'channel_order': 'rgb'} if name in ('Color', 'Contrast') else {}
    n_diff = 0
    for f in np.linspace(0.1, 1.9, 37):
        ref = np.asarray(enhancer.enhance(f)).astype(np.int16)
        diff = np.abs(fn(rgb, f, **kwargs).astype(np.int16) - ref)
        if name in EXACT_OPS:
            assert diff.max() == 0, f'{name} factor {f}'
        assert diff.max() <= BLEND_MAX_ABS, f'{name} factor {f}'
        n_diff += int((diff > 0).sum())
    assert n_diff <= BLEND_MAX_FRAC * 37 * rgb.size


@pytest.mark.parametrize('name', ('AutoContrast', 'Equalize', 'Contrast', 'Color',
                                  'Solarize', 'Brightness'))
def test_narrow_histogram_matches_pil(name):
    rgb = low_range_image(40, 33, seed=3)
    for level, sign, center in _cases(name):
        ref = pil_reference(rgb, name, level, sign, center)
        for order in ('bgr', 'rgb'):
            check_against_pil(ours_rgb(rgb, name, level, sign, center, order), ref, name,
                              f'{name} level={level} order={order}')


@pytest.mark.parametrize('name', ALL_OPS)
def test_gray_matches_pil(name):
    gray = textured_image(45, 61, seed=11, channels=1)
    for level, sign, center in _cases(name):
        ref = pil_reference(gray, name, level, sign, center)
        out2 = io.apply_op(gray, name, level, sign=sign, center=center)
        out3 = io.apply_op(gray[..., None], name, level, sign=sign, center=center)
        assert out2.shape == gray.shape and out3.shape == gray.shape + (1,)
        np.testing.assert_array_equal(out3[..., 0], out2)
        check_against_pil(out2, ref, name, f'gray {name} level={level} sign={sign}')


def test_color_is_identity_on_gray():
    gray = textured_image(30, 20, seed=5, channels=1)
    for f in (0.1, 0.5, 1.9):
        np.testing.assert_array_equal(io.color(gray, f), gray)
        np.testing.assert_array_equal(io.color(gray[..., None], f), gray[..., None])


def test_channel_order_matters_for_luma():
    # R and B very different: using the wrong weights changes the L image and the result.
    rgb = textured_image(50, 50, seed=8)
    rgb[..., 0] = 250
    rgb[..., 2] //= 4
    ref = pil_reference(rgb, 'Color', 0.05)
    ok = io.color(rgb[..., ::-1], 0.19, channel_order='bgr')[..., ::-1]
    wrong = io.color(rgb[..., ::-1], 0.19, channel_order='rgb')[..., ::-1]
    assert np.abs(ok.astype(int) - ref).max() <= 1
    assert np.abs(wrong.astype(int) - ref).max() > 10


def test_pil_luma_exact():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (512, 1024, 3), dtype=np.uint8)
    rgb[0, :256] = np.arange(256)[:, None]  # gray ramp
    ref = np.asarray(Image.fromarray(rgb).convert('L'))
    np.testing.assert_array_equal(io.pil_luma(rgb, 'rgb'), ref)
    np.testing.assert_array_equal(io.pil_luma(rgb[..., ::-1], 'bgr'), ref)


# ---------------------------------------------------------------------------------------
# generic properties
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize('name', ALL_OPS)
def test_input_not_modified_and_new_array(name):
    rgb = textured_image(37, 29, seed=2)
    keep = rgb.copy()
    out = io.apply_op(rgb, name, 0.8, sign=-1.0, center=(0.4, 0.6))
    np.testing.assert_array_equal(rgb, keep)
    assert not np.shares_memory(out, rgb)
    out = io.apply_op(rgb, name, 0.5)  # identity levels must still copy
    assert not np.shares_memory(out, rgb)


@pytest.mark.parametrize('name', ALL_OPS)
def test_non_contiguous_input(name):
    big = textured_image(80, 90, seed=4)
    view = big[5:70:2, 3:80:3]  # strided view
    assert not view.flags.c_contiguous
    for level, sign in ((0.83, 1.0), (0.21, -1.0)):
        a = io.apply_op(view, name, level, sign=sign, center=(0.3, 0.7))
        b = io.apply_op(np.ascontiguousarray(view), name, level, sign=sign,
                        center=(0.3, 0.7))
        np.testing.assert_array_equal(a, b)


IDENTITY_LEVELS = {'ShearX': 0.5, 'ShearY': 0.5, 'TranslateX': 0.5, 'TranslateY': 0.5,
                   'Rotate': 0.5, 'Solarize': 1.0, 'Posterize': 1.0, 'Contrast': 0.5,
                   'Color': 0.5, 'Brightness': 0.5, 'Sharpness': 0.5, 'Cutout': 0.0}


@pytest.mark.parametrize('name', sorted(IDENTITY_LEVELS))
def test_identity_levels(name):
    rgb = textured_image(41, 38, seed=6)
    gray = rgb[..., 1].copy()
    for img in (rgb, gray, gray[..., None]):
        for sign in (1.0, -1.0):
            np.testing.assert_array_equal(
                io.apply_op(img, name, IDENTITY_LEVELS[name], sign=sign), img)


def test_rotate_directions_and_fill():
    img = np.zeros((21, 21, 3), np.uint8)
    img[10, 15:] = 255  # a bar pointing right of the centre
    out = io.rotate(img, 90.0)  # counter-clockwise: the bar now points up
    assert out[:6, 10].min() == 255 and out[10, 15:].max() == 0
    # fill colour for the uncovered corners, in the image's channel order
    out = io.rotate(np.full((20, 30, 3), 7, np.uint8), 30.0, fill=(1, 2, 3))
    assert tuple(out[0, 0]) == (1, 2, 3) and tuple(out[10, 15]) == (7, 7, 7)


def test_translate_and_shear_directions():
    img = np.arange(10 * 12, dtype=np.uint8).reshape(10, 12)
    out = io.translate_x(img, 0.25)  # 3 px: out[:, j] = img[:, j + 3]
    np.testing.assert_array_equal(out[:, :9], img[:, 3:])
    assert (out[:, 9:] == 0).all()
    out = io.translate_y(img, -0.2, fill=9)  # 2 px down
    np.testing.assert_array_equal(out[2:], img[:-2])
    assert (out[:2] == 9).all()
    out = io.shear_x(img, 0.3)  # row i reads columns floor(j + .5 + .3 (i + .5))
    for i in range(10):
        for j in range(12):
            src = math.floor(j + 0.5 + 0.3 * (i + 0.5))
            assert out[i, j] == (img[i, src] if src < 12 else 0)


def test_warp_affine_other_dtypes_and_channels():
    h, w = 33, 47
    rgb = textured_image(h, w, seed=9)
    m = np.array([[0.9, 0.25, 3.3], [-0.2, 1.1, -2.7], [0, 0, 1]])
    ref = io.warp_affine(rgb, m)
    index = np.arange(h * w, dtype=np.int64).reshape(h, w)
    sentinel = h * w  # fill: an out-of-range index, representable in every dtype below
    # Where the image was sampled, every dtype must sample the same input pixel.
    inside = io.warp_affine(np.ones((h, w), np.uint8), m) == 1  # sampled pixels
    assert 0.5 < inside.mean() < 1
    for dtype in (np.int32, np.int64, np.uint16, np.float32, np.uint32):
        idx = io.warp_affine(index.astype(dtype), m, fill=sentinel)
        assert idx.dtype == dtype and idx.shape == (h, w)
        assert (idx[~inside] == sentinel).all()
        assert ((idx[inside] >= 0) & (idx[inside] < h * w)).all()
        got = rgb.reshape(-1, 3)[idx[inside].astype(np.int64)]
        np.testing.assert_array_equal(got, ref[inside])
        assert (ref[~inside] == 0).all()
    small = (index % 100 - 50).astype(np.int8)  # 1-byte signed: raw-byte path
    out = io.warp_affine(small, m, fill=-100)
    idx = io.warp_affine(index, m, fill=sentinel)
    np.testing.assert_array_equal(out, np.where(inside, idx % 100 - 50, -100))
    labels = (index % 7).astype(np.uint8)
    out = io.warp_affine(labels, m, fill=255)
    assert out.shape == (h, w) and set(np.unique(out)) <= set(range(7)) | {255}
    mask = index % 3 == 0
    out = io.warp_affine(mask, m)
    assert out.dtype == bool and out.shape == (h, w)
    five = np.concatenate([rgb, rgb[..., :2]], axis=2)  # 5 channels
    out = io.warp_affine(five, m, fill=(1, 2, 3, 4, 5))
    np.testing.assert_array_equal(out[..., :3], io.warp_affine(rgb, m, fill=(1, 2, 3)))
    np.testing.assert_array_equal(out[..., 3:], io.warp_affine(rgb[..., :2], m, fill=(4, 5)))
    # out_shape and the 2x3 form
    out = io.warp_affine(rgb, m[:2], out_shape=(20, 60))
    assert out.shape == (20, 60, 3)
    np.testing.assert_array_equal(out[:20, :47][(out[:20, :47] != 0).any(-1)],
                                  ref[:20][(out[:20, :47] != 0).any(-1)])


def test_warp_affine_bilinear_and_bicubic():
    rgb = textured_image(40, 50, seed=10)
    for interp in ('bilinear', 'bicubic'):
        np.testing.assert_array_equal(io.warp_affine(rgb, np.eye(3), interpolation=interp),
                                      rgb)
        t = np.array([[1, 0, 3], [0, 1, -2], [0, 0, 1]], float)  # integer shift
        out = io.warp_affine(rgb, t, interpolation=interp)
        np.testing.assert_array_equal(out[2:, :47], rgb[:-2, 3:])
        f = io.warp_affine(rgb.astype(np.float32), t, interpolation=interp)
        np.testing.assert_array_equal(f[2:, :47], rgb[:-2, 3:].astype(np.float32))
    # a half-pixel shift averages neighbours (PIL frame: reads x + .5 -> between j, j+1)
    t = np.array([[1, 0, 0.5], [0, 1, 0], [0, 0, 1]])
    out = io.warp_affine(rgb, t, interpolation='bilinear').astype(int)
    avg = (rgb[:, :-1].astype(int) + rgb[:, 1:]) / 2
    assert np.abs(out[:, :-1] - avg).max() <= 1
    # ... and is close to PIL's bilinear away from the border
    m = (1, 0.2, 0, 0, 1, 0)
    ref = np.asarray(Image.fromarray(rgb).transform((50, 40), Image.AFFINE, m,
                                                    Image.BILINEAR)).astype(int)
    out = io.shear_x(rgb, 0.2, interpolation='bilinear').astype(int)
    assert np.abs(out[2:-2, 2:30] - ref[2:-2, 2:30]).max() <= 2
    with pytest.raises(ValueError):
        io.warp_affine(rgb, np.eye(3), interpolation='area')


# ---------------------------------------------------------------------------------------
# Cutout, Posterize, Solarize specifics
# ---------------------------------------------------------------------------------------
def test_cutout_box_hand_computed():
    # side 6.4 at the centre of 32x32: x0 = int(16 - 3.2) = 12, x1 = 18.4 drawn
    # inclusively as column 18 -> [12, 19): 7 columns (PIL's inclusive corner).
    assert io.cutout_box(32, 32, 6.4, (0.5, 0.5)) == (12, 12, 19, 19)
    # clipped at the right / top: x0 = int(31.68 - 3.2) = 28, x1 = min(32, 34.4) = 32
    assert io.cutout_box(32, 32, 6.4, (0.99, 0.0)) == (28, 0, 32, 7)
    # integer side: x0 = int(20 - 4) = 16, x1 = 24 inclusive -> 9 columns
    assert io.cutout_box(40, 40, 8.0, (0.5, 0.25)) == (16, 6, 25, 15)
    # tiny side still paints one pixel (int(x0 + 0.3) == x0, inclusive)
    assert io.cutout_box(10, 10, 0.3, (0.5, 0.5)) == (4, 4, 5, 5)
    assert io.cutout_box(10, 10, 0.0, (0.5, 0.5)) == (0, 0, 0, 0)
    img = np.zeros((32, 32, 3), np.uint8)
    out = io.cutout(img, 6.4, (0.5, 0.5), fill=(1, 2, 3))
    assert (out[12:19, 12:19] == (1, 2, 3)).all() and out.sum() == 49 * 6
    gray = io.cutout(img[..., 0], 6.4, (0.5, 0.5), fill=(1, 2, 3))
    assert gray.sum() == 49 and gray.shape == (32, 32)
    np.testing.assert_array_equal(io.cutout(img, 0.0, (0.5, 0.5)), img)


def test_cutout_fill_channel_order():
    img = np.zeros((20, 20, 3), np.uint8)
    bgr = io.apply_op(img, 'Cutout', 1.0, center=(0.5, 0.5), channel_order='bgr')
    rgb = io.apply_op(img, 'Cutout', 1.0, center=(0.5, 0.5), channel_order='rgb')
    assert tuple(bgr[10, 10]) == (114, 123, 125) and tuple(rgb[10, 10]) == (125, 123, 114)
    out = io.apply_op(img, 'Cutout', 1.0, center=(0.5, 0.5), cutout_fill=(9, 8, 7))
    assert tuple(out[10, 10]) == (9, 8, 7)


def test_posterize_solarize_extremes():
    ramp = np.tile(np.arange(256, dtype=np.uint8), (3, 1))
    np.testing.assert_array_equal(io.posterize(ramp, 8), ramp)
    np.testing.assert_array_equal(io.posterize(ramp, 4), ramp & 0xF0)
    np.testing.assert_array_equal(io.posterize(ramp, 0), np.zeros_like(ramp))
    np.testing.assert_array_equal(io.posterize(ramp, 1), ramp & 0x80)
    # level 0.74 -> 6.96 -> 6 bits (floored)
    np.testing.assert_array_equal(io.apply_op(ramp, 'Posterize', 0.74), ramp & 0xFC)
    np.testing.assert_array_equal(io.solarize(ramp, 256), ramp)
    np.testing.assert_array_equal(io.solarize(ramp, 0), 255 - ramp)
    np.testing.assert_array_equal(io.solarize(ramp, 255.5), ramp)
    np.testing.assert_array_equal(io.solarize(ramp, 127.2),
                                  np.where(ramp >= 127.2, 255 - ramp, ramp))
    np.testing.assert_array_equal(io.solarize(ramp, 128),
                                  np.where(ramp >= 128, 255 - ramp, ramp))
    for thr in (0.0, 0.5, 1.0, 100.7, 255.0, 256.0):
        ref = np.asarray(ImageOps.solarize(Image.fromarray(ramp), thr))
        np.testing.assert_array_equal(io.solarize(ramp, thr), ref)


def test_equalize_autocontrast_flat_and_two_level():
    flat = np.full((10, 10, 3), 77, np.uint8)
    np.testing.assert_array_equal(io.equalize(flat), flat)
    np.testing.assert_array_equal(io.auto_contrast(flat), flat)
    two = flat.copy()
    two[:5] = 100
    ref = np.asarray(ImageOps.autocontrast(Image.fromarray(two)))
    np.testing.assert_array_equal(io.auto_contrast(two), ref)
    # PIL quirk: int(100 * (255/23) - 77 * (255/23)) == 254, so the top maps to 254.
    assert set(np.unique(ref)) == {0, 254}
    np.testing.assert_array_equal(io.equalize(two),
                                  np.asarray(ImageOps.equalize(Image.fromarray(two))))


def test_apply_op_rejects_unknown():
    with pytest.raises(KeyError):
        io.apply_op(np.zeros((4, 4, 3), np.uint8), 'Blur', 0.5)
    with pytest.raises(TypeError):
        io.invert(np.zeros((4, 4, 3), np.float32))


def test_cutout_fill_rounds_half_to_even_and_saturates():
    img = np.zeros((8, 8, 3), np.uint8)
    out = io.cutout(img, 4, (0.5, 0.5), fill=(127.5, 128.5, 300.0))
    assert out[4, 4].tolist() == [128, 128, 255]
    assert out[0, 0].tolist() == [0, 0, 0]
    gray = io.cutout(np.full((8, 8), 9, np.uint8), 4, (0.5, 0.5), fill=-3.0)
    assert gray[4, 4] == 0 and gray[0, 0] == 9 and img.sum() == 0  # input untouched


@pytest.mark.parametrize('seed', range(6))
def test_nearest_sampling_rule_is_pils(seed):
    """The one nearest rule reads, pixel for pixel, the input pixel PIL reads (an index
    image through PIL's own Image.transform), and warp_affine gathers exactly there."""
    from PIL import Image

    from dada_mm.transforms.cv_kernels import nearest_source_indices
    rng = np.random.default_rng(seed)
    h, w = (57, 43) if seed % 2 else (40, 61)
    if seed < 4:  # shear / rotation terms: PIL's fixed point
        m = np.array([[1 + rng.normal(0, .2), rng.normal(0, .4), rng.normal(0, 4)],
                      [rng.normal(0, .4), 1 + rng.normal(0, .2), rng.normal(0, 4)],
                      [0, 0, 1]])
    else:  # none: PIL's scale path
        m = np.array([[1 + rng.normal(0, .2), 0, rng.normal(0, 4)],
                      [0, 1 + rng.normal(0, .2), rng.normal(0, 4)], [0, 0, 1]])
    index = np.arange(h * w, dtype=np.int32).reshape(h, w)
    pil = np.asarray(Image.fromarray(index, 'I').transform(
        (w, h), Image.AFFINE, tuple(m[:2].ravel()), Image.NEAREST, fillcolor=-1))
    src_y, src_x = nearest_source_indices(m, (h, w))
    inside = (src_x >= 0) & (src_x < w) & (src_y >= 0) & (src_y < h)
    np.testing.assert_array_equal(np.where(inside, src_y * w + src_x, -1), pil)
    img = textured_image(h, w, seed=seed)
    out = io.warp_affine(img, m, fill=(7, 8, 9))
    np.testing.assert_array_equal(out[inside], img[src_y[inside], src_x[inside]])
    assert (out[~inside] == (7, 8, 9)).all()


def test_nearest_warp_does_not_depend_on_opencv_rounding(monkeypatch):
    """Exact ties (rotation about the half-integer centre of an odd size) read the pixel of
    the rule, for the image and a label map alike, whichever gather runs: cv2.remap on
    integer maps, or numpy when OpenCV is not used at all."""
    from dada_mm.transforms import cv_kernels
    h, w = 57, 43
    t = math.radians(90)
    c, s = round(math.cos(t), 15), round(math.sin(t), 15)
    m = np.array([[c, s, -c * w / 2 - s * h / 2 + w / 2],
                  [-s, c, s * w / 2 - c * h / 2 + h / 2], [0, 0, 1]])
    img = textured_image(h, w, seed=3)
    labels = np.arange(h * w, dtype=np.int64).reshape(h, w)
    out, lab = io.warp_affine(img, m), io.warp_affine(labels, m, fill=-1)
    monkeypatch.setattr(cv_kernels, '_INT16_MAP_MAX', 0)  # numpy gathers everything
    np.testing.assert_array_equal(io.warp_affine(img, m), out)
    inside = lab >= 0
    np.testing.assert_array_equal(img.reshape(-1, 3)[lab[inside]], out[inside])
