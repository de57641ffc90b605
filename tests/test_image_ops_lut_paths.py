"""Equalize / AutoContrast through each histogram and LUT path of image_ops, against PIL.

test_image_ops.py checks every op at sizes up to 224x224, where the planes are small: the
paths for large images (PIL-counted histograms, byte-pair LUTs, their odd tails), equal
or identity per-channel tables and misaligned buffers are checked here.
"""
import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from dada_mm.transforms import cv_kernels as ck
from dada_mm.transforms import image_ops as io

# 601x457 = 274657 pixels: above PIL_HIST_MIN_PIXELS and PAIR_LUT_MIN_BYTES, odd (the
# pair LUT's last byte) and 1 mod 4 (the PIL RGBX histogram's tail).
LARGE = (601, 457)
SMALL = (37, 29)
TINY = (9, 11)  # fewer than 255 pixels: equalize's step is 0 (identity tables)
OPS = {'Equalize': (io.equalize, ImageOps.equalize),
       'AutoContrast': (io.auto_contrast, ImageOps.autocontrast)}


def make_rgb(kind, h, w, seed=0):
    """RGB test images that reach the different table cases."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([200 * xx / max(w - 1, 1) + 20, 150 * yy / max(h - 1, 1) + 50,
                     127.5 + 100 * np.sin((xx + yy) / 9.0)], axis=-1)
    noisy = base + rng.normal(0, 15, (h, w, 3))
    textured = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    if kind == 'textured':
        return textured
    if kind == 'smooth':  # long runs of equal values
        return cv2.GaussianBlur(textured, (0, 0), 6)
    if kind == 'narrow':  # equalize's table exceeds 255 and is clipped
        return rng.integers(60, 110, (h, w, 3), dtype=np.uint8)
    if kind == 'constant_channel':  # one non-empty bin: identity table for that channel
        out = textured.copy()
        out[..., 1] = 77
        return out
    if kind == 'two_values_channel':
        out = textured.copy()
        out[..., 2] = np.where(xx > w / 3, 200, 13).astype(np.uint8)
        return out
    if kind == 'gray_rgb':  # equal tables: one LUT over the interleaved buffer
        return np.repeat(textured[..., :1], 3, axis=2)
    if kind == 'two_equal':  # channels 0 and 2 equal, 1 different
        out = textured.copy()
        out[..., 2] = out[..., 0]
        return out
    if kind == 'full_range':  # AutoContrast: identity tables
        out = textured.copy()
        out[0, 0] = 0
        out[-1, -1] = 255
        return out
    raise KeyError(kind)


KINDS = ('textured', 'smooth', 'narrow', 'constant_channel', 'two_values_channel',
         'gray_rgb', 'two_equal', 'full_range')


def misaligned(img):
    """A C-contiguous copy of ``img`` at an odd address."""
    buf = np.empty(img.size + 1, np.uint8)
    out = buf[1:].reshape(img.shape)
    out[...] = img
    assert out.flags.c_contiguous and out.ctypes.data % 2 == 1
    return out


@pytest.mark.parametrize('name', sorted(OPS))
@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('size', (LARGE, SMALL, TINY))
def test_rgb_paths_match_pil(name, kind, size):
    ours, ref_fn = OPS[name]
    rgb = make_rgb(kind, *size)
    ref = np.asarray(ref_fn(Image.fromarray(rgb)))
    keep = rgb.copy()
    for variant, img, back in (
            ('rgb', rgb, lambda o: o),
            ('bgr view', rgb[..., ::-1], lambda o: o[..., ::-1]),
            ('misaligned', misaligned(rgb), lambda o: o)):
        out = ours(img)
        assert out.shape == img.shape and out.dtype == np.uint8
        assert not np.shares_memory(out, img)
        np.testing.assert_array_equal(back(out), ref, err_msg=f'{name} {kind} {variant}')
    np.testing.assert_array_equal(rgb, keep)


@pytest.mark.parametrize('name', sorted(OPS))
@pytest.mark.parametrize('kind', ('textured', 'smooth', 'narrow', 'two_values_channel'))
@pytest.mark.parametrize('size', (LARGE, SMALL))
def test_gray_paths_match_pil(name, kind, size):
    ours, ref_fn = OPS[name]
    channel = 2 if kind == 'two_values_channel' else 0
    gray = np.ascontiguousarray(make_rgb(kind, *size)[..., channel])
    ref = np.asarray(ref_fn(Image.fromarray(gray)))
    for img, back in ((gray, lambda o: o), (gray[..., None], lambda o: o[..., 0]),
                      (misaligned(gray), lambda o: o),
                      (gray[:, ::-1], lambda o: o[:, ::-1])):
        out = ours(img)
        assert out.shape == img.shape and not np.shares_memory(out, img)
        np.testing.assert_array_equal(back(out), ref)


@pytest.mark.parametrize('n', (0, 1, 2, 3, 255, 4096, ck.PAIR_LUT_MIN_BYTES - 1,
                               ck.PAIR_LUT_MIN_BYTES, ck.PAIR_LUT_MIN_BYTES + 1))
def test_lut_into_matches_take(n):
    rng = np.random.default_rng(n)
    lut = rng.integers(0, 256, 256, dtype=np.uint8)
    src = rng.integers(0, 256, n, dtype=np.uint8)
    ref = lut[src]
    dst = np.empty_like(src)
    ck.lut_into(src, lut, dst)
    np.testing.assert_array_equal(dst, ref)
    ck.lut_into(src, lut, src)  # in place
    np.testing.assert_array_equal(src, ref)
    buf = np.empty(n + 1, np.uint8)  # an odd address: the byte-table path
    ck.lut_into(src, lut[::-1].copy(), buf[1:])
    np.testing.assert_array_equal(buf[1:], lut[::-1][src])


@pytest.mark.parametrize('n', (1, 5, 256, ck.PIL_HIST_MIN_PIXELS - 1,
                               ck.PIL_HIST_MIN_PIXELS, ck.PIL_HIST_MIN_PIXELS + 1,
                               ck.PIL_HIST_MIN_PIXELS + 2, ck.PIL_HIST_MIN_PIXELS + 3))
def test_channel_histograms_exact(n):
    rng = np.random.default_rng(n)
    planes = rng.integers(0, 256, (2, n + 5), dtype=np.uint8)
    planes[:, n - 3:n] = 255  # the tail bytes PIL's 4-byte view leaves out
    hists = ck.channel_histograms(planes, n)
    assert hists.dtype == np.int64
    for plane, hist in zip(planes, hists):
        np.testing.assert_array_equal(hist, np.bincount(plane[:n], minlength=256))


@pytest.mark.parametrize('shape', [(0, 5), (4, 0), (0, 0, 3), (3, 0, 1)])
@pytest.mark.parametrize('name', ['AutoContrast', 'Equalize', 'Posterize', 'Sharpness'])
def test_empty_images_get_a_clear_error(shape, name):
    """An empty image is refused with a message naming the shape (cv2 would abort the
    whole process on some of them, e.g. minMaxLoc on an empty gray plane)."""
    with pytest.raises(ValueError, match='non-empty image'):
        io.apply_op(np.zeros(shape, np.uint8), name, 0.5)
