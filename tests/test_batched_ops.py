"""Tests of ``dada_mm.search.batched_ops`` against PIL (the paper's ops) and image_ops."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from dada_mm.search.batched_ops import (
    DIFFERENTIABLE_OP_INDICES,
    affine_matrices,
    apply_op_batch,
    apply_sub_policies,
    cutout_boxes,
    surrogate_op,
)
from dada_mm.search_space.ops import (
    GEOMETRIC_OPS,
    OP_NAMES,
    inverse_output_to_input_matrix,
    level_to_value,
)
from dada_mm.search_space.sub_policies import SUB_POLICY_OP_INDICES
from dada_mm.testing import pil_ops

H, W = 41, 53  # odd, non-square: catches H/W swaps and centre conventions
LEVELS = (0.0, 0.05, 0.13, 0.25, 0.37, 0.5, 0.61, 0.75, 0.88, 0.97, 1.0, -0.2, 1.3)

# Tolerances against PIL itself: every op is reproduced bit for bit (LUT ops by the same
# integer / double formulas, blends in float32 like PIL's C code, warps with PIL's
# 16.16 fixed-point coordinates), so all are exact.
PIL_MAX_ABS = 0
# warp='floor' (float64 floor(A @ c), ops.py's formula) differs from PIL only
# where a source coordinate is within ~2**-16 of an integer (fixed-point rounding); on
# these 41x53 images measured 0 for shears / translations and, for Rotate, at most
# 0.46 % of the pixels of one image and 0.12 % on average: bounds 1 % and 0.25 %.
FLOAT_WARP_MAX_FRAC = 0.01
FLOAT_WARP_MEAN_FRAC = 0.0025
# Against the per-image numpy/cv2 ops (independent implementation): LUT / point ops and
# Cutout must be exact; blends may round differently by 1 (image_ops documents that its
# cv2.addWeighted Color / Sharpness can; measured 0 here); warps are exact too (both
# sample by PIL's 16.16 / double nearest rule).
IMAGE_OPS_BLEND_MAX_ABS = 1
BLEND_OPS = ('Contrast', 'Color', 'Brightness', 'Sharpness')


# ----------------------------------------------------------------------------- helpers
def make_rgb(n, h=H, w=W, seed=0):
    """Structured uint8 RGB images [n, h, w, 3] with varied ranges and edge cases."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    ims = []
    for i in range(n):
        base = (np.sin(xx / (3.0 + i % 5) + i)[..., None] * rng.uniform(30, 90, 3)
                + np.cos(yy / (2.0 + i % 3))[..., None] * rng.uniform(20, 60, 3)
                + rng.uniform(80, 170, 3) + rng.normal(0, 12, (h, w, 3)))
        lo, hi = rng.integers(0, 70), rng.integers(170, 256)
        im = np.clip(base, lo, hi).astype(np.uint8)
        if i % 7 == 3:
            im[..., 1] = 77  # constant channel: AutoContrast / Equalize identity branch
        if i % 7 == 5:
            im = np.where(rng.random((h, w, 1)) < 0.9, [40, 60, 30], [200, 190, 210])
            im = im.astype(np.uint8)  # two values per channel
        ims.append(im)
    return np.stack(ims)


def to_tensor_bgr(rgb):
    return torch.from_numpy(np.ascontiguousarray(rgb[..., ::-1])).permute(0, 3, 1, 2).float()


def to_numpy_rgb(t):
    return t.permute(0, 2, 3, 1).numpy()[..., ::-1].round().astype(np.int64)


def pil_op(img, name, level, sign=1.0, center=(0.5, 0.5), fill=0):
    """Reference: the paper's PIL ops at ``level`` (clamped to [0, 1] as the ops do)."""
    return pil_ops.pil_op(img, name, level_to_value(name, min(max(level, 0.0), 1.0), sign),
                          center, fill)


def f32(v):
    """The float the batched op sees for a float32 tensor entry."""
    return float(np.float32(v))


def sweep(n_levels=LEVELS, seed=0):
    """(levels, signs, centers) numpy arrays: every level with both signs."""
    rng = np.random.default_rng(seed)
    levels = np.repeat(np.asarray(n_levels, dtype=np.float32), 2)
    signs = np.tile(np.array([1.0, -1.0], dtype=np.float32), len(n_levels))
    centers = rng.random((len(levels), 2)).astype(np.float32)
    return levels, signs, centers


def run_single(x, k, levels, signs, centers, **kw):
    """Op ``k`` in slot 0 (applied), slot 1 not applied, through apply_sub_policies."""
    b = x.shape[0]
    ops = torch.tensor([[k, (k + 3) % 15]] * b)
    apply = torch.tensor([[1.0, 0.0]] * b)
    lv = torch.stack([torch.from_numpy(levels), torch.full((b,), 0.9)], 1)
    sg = torch.stack([torch.from_numpy(signs), torch.ones(b)], 1)
    ct = torch.stack([torch.from_numpy(centers), torch.full((b, 2), 0.3)], 1)
    return apply_sub_policies(x, ops, apply, lv, sg, ct, **kw)


def import_image_ops():
    from dada_mm.transforms import image_ops  # the per-image numpy/cv2 ops
    return image_ops


# ------------------------------------------------------------------------------- tests
def test_affine_matrices_match_numpy():
    vals = np.array([-0.45, -0.3, -0.071, 0.0, 0.123, 0.3, 0.45, -30.0, 17.3, 30.0])
    for name in sorted(GEOMETRIC_OPS):
        got = affine_matrices(name, torch.tensor(vals, dtype=torch.float64), H, W).numpy()
        for v, m in zip(vals, got):
            ref = inverse_output_to_input_matrix(name, float(v), H, W)
            np.testing.assert_allclose(m, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize('name', OP_NAMES)
def test_single_op_matches_pil(name):
    k = OP_NAMES.index(name)
    levels, signs, centers = sweep(seed=k)
    rgb = make_rgb(len(levels), seed=k)
    out = run_single(to_tensor_bgr(rgb), k, levels, signs, centers)
    assert out.dtype == torch.float32 and out.shape == (len(levels), 3, H, W)
    got = to_numpy_rgb(out)
    changed = 0
    for i in range(len(levels)):
        ref = np.asarray(pil_op(Image.fromarray(rgb[i]), name, f32(levels[i]), f32(signs[i]),
                                (f32(centers[i, 0]), f32(centers[i, 1]))), dtype=np.int64)
        diff = np.abs(got[i] - ref).max()
        assert diff <= PIL_MAX_ABS, (name, i, levels[i], signs[i], diff)
        changed += int((ref != rgb[i]).any())
    assert changed > 0  # the sweep really exercises the op


@pytest.mark.parametrize('name', sorted(GEOMETRIC_OPS))
def test_float_warp_path_close_to_pil(name):
    k = OP_NAMES.index(name)
    levels, signs, centers = sweep(seed=k)
    rgb = make_rgb(len(levels), seed=k)
    got = to_numpy_rgb(run_single(to_tensor_bgr(rgb), k, levels, signs, centers,
                                  warp='floor'))
    fracs = []
    for i in range(len(levels)):
        ref = np.asarray(pil_op(Image.fromarray(rgb[i]), name, f32(levels[i]),
                                f32(signs[i])), dtype=np.int64)
        fracs.append(float((got[i] != ref).any(-1).mean()))
    assert max(fracs) <= FLOAT_WARP_MAX_FRAC and np.mean(fracs) <= FLOAT_WARP_MEAN_FRAC


# warp='grid_sample' (torch's affine_grid + nearest grid_sample, float32): measured on
# these images 0 differing pixels for shears / translations and, for Rotate, at most
# 1.43 % of the pixels of one image and 0.44 % on average: bounds 3 % and 1 %.
GRID_WARP_MAX_FRAC = {'Rotate': 0.03}
GRID_WARP_MEAN_FRAC = {'Rotate': 0.01}


@pytest.mark.parametrize('name', sorted(GEOMETRIC_OPS))
def test_grid_sample_warp_close_to_pil(name):
    k = OP_NAMES.index(name)
    levels, signs, centers = sweep(seed=k)
    rgb = make_rgb(len(levels), seed=k)
    got = to_numpy_rgb(run_single(to_tensor_bgr(rgb), k, levels, signs, centers,
                                  warp='grid_sample'))
    fracs = []
    for i in range(len(levels)):
        ref = np.asarray(pil_op(Image.fromarray(rgb[i]), name, f32(levels[i]),
                                f32(signs[i])), dtype=np.int64)
        fracs.append(float((got[i] != ref).any(-1).mean()))
    assert max(fracs) <= GRID_WARP_MAX_FRAC.get(name, 0.0)
    assert np.mean(fracs) <= GRID_WARP_MEAN_FRAC.get(name, 0.0)
    assert np.mean(fracs) > 0 or name != 'Rotate'  # a rotation does round differently


def test_unknown_warp_names_the_allowed_values():
    x = torch.zeros(1, 3, 4, 4)
    with pytest.raises(ValueError, match=r"warp must be one of \['pil', 'floor', "
                                         r"'grid_sample'\], got 'bicubic'"):
        run_single(x, OP_NAMES.index('Rotate'), np.array([0.5]), np.array([1.0]),
                   np.array([[0.5, 0.5]]), warp='bicubic')


@pytest.mark.parametrize('name', OP_NAMES)
def test_single_op_matches_image_ops(name):
    image_ops = import_image_ops()
    k = OP_NAMES.index(name)
    levels, signs, centers = sweep(seed=100 + k)
    rgb = make_rgb(len(levels), seed=100 + k)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    got = run_single(to_tensor_bgr(rgb), k, levels, signs, centers)
    got = got.permute(0, 2, 3, 1).numpy().round().astype(np.int64)
    for i in range(len(levels)):
        ref = np.asarray(image_ops.apply_op(
            bgr[i], name, f32(levels[i]), sign=f32(signs[i]),
            center=(f32(centers[i, 0]), f32(centers[i, 1]))), dtype=np.int64)
        assert ref.shape == got[i].shape
        if name in BLEND_OPS:
            assert np.abs(ref - got[i]).max() <= IMAGE_OPS_BLEND_MAX_ABS, (name, i)
        else:
            assert np.array_equal(ref, got[i]), (name, i, levels[i])


def test_cutout_boxes_match_image_ops():
    image_ops = import_image_ops()
    rng = np.random.default_rng(3)
    levels = np.concatenate([np.linspace(0, 1, 21), rng.random(30)]).astype(np.float32)
    centers = rng.random((len(levels), 2)).astype(np.float32)
    centers[:4] = [[0.0, 0.0], [0.999, 0.999], [0.0, 0.999], [0.5, 0.5]]
    boxes = cutout_boxes(H, W, torch.from_numpy(levels), torch.from_numpy(centers))
    for lv, c, box in zip(levels, centers, boxes.tolist()):
        if lv <= 0:  # level 0 is the identity (Fast-AA's Cutout returns the image)
            assert box[2] - box[0] == 0 and box[3] - box[1] == 0
            continue
        side = level_to_value('Cutout', f32(lv)) * W
        ref = image_ops.cutout_box(H, W, side, (f32(c[0]), f32(c[1])))
        assert tuple(int(v) for v in ref) == tuple(box), (lv, c)


def test_mixed_batch_two_ops_match_sequential_pil():
    rng = np.random.default_rng(7)
    pairs = [SUB_POLICY_OP_INDICES[i] for i in rng.integers(0, 105, 40)]
    pairs += [(4, 4), (14, 0), (13, 7), (10, 2), (5, 5), (12, 11)]  # any order / repeats
    b = len(pairs)
    rgb = make_rgb(b, seed=7)
    ops = torch.tensor(pairs)
    apply = torch.from_numpy(rng.random((b, 2)) < 0.75).float()
    levels = torch.from_numpy(rng.uniform(-0.1, 1.1, (b, 2)).astype(np.float32))
    signs = torch.from_numpy(rng.choice([-1.0, 1.0], (b, 2)).astype(np.float32))
    centers = torch.from_numpy(rng.random((b, 2, 2)).astype(np.float32))
    out = apply_sub_policies(to_tensor_bgr(rgb), ops, apply, levels, signs, centers)
    got = to_numpy_rgb(out)
    for i in range(b):
        img = Image.fromarray(rgb[i])
        for j in range(2):
            if apply[i, j] > 0.5:
                img = pil_op(img, OP_NAMES[pairs[i][j]], f32(levels[i, j]), f32(signs[i, j]),
                             (f32(centers[i, j, 0]), f32(centers[i, j, 1])))
        assert np.abs(got[i] - np.asarray(img, dtype=np.int64)).max() <= PIL_MAX_ABS, i


def test_apply_zero_is_identity_and_gets_no_gradient():
    rng = np.random.default_rng(1)
    b = 30
    x = to_tensor_bgr(make_rgb(b, seed=1))
    ops = torch.from_numpy(rng.integers(0, 15, (b, 2)))
    levels = torch.rand(b, 2, generator=torch.Generator().manual_seed(0)).requires_grad_()
    apply = torch.zeros(b, 2, dtype=torch.bool)
    for mode in ('straight_through', 'exact'):
        out = apply_sub_policies(x, ops, apply, levels, torch.ones(b, 2),
                                 torch.full((b, 2, 2), 0.4), magnitude_grad=mode)
        assert torch.equal(out, x)
        if out.requires_grad:
            (g,) = torch.autograd.grad(out.sum(), levels, allow_unused=True)
            assert g is None or torch.count_nonzero(g) == 0
    # a skipped slot 0 leaves slot 1 alone: equals the single op
    apply = torch.tensor([[0.0, 1.0]] * b)
    out = apply_sub_policies(x, ops, apply, levels.detach(), torch.ones(b, 2),
                             torch.full((b, 2, 2), 0.4))
    for i in range(b):
        ref = apply_op_batch(x[i:i + 1], int(ops[i, 1]), levels[i, 1:2].detach(),
                             signs=torch.ones(1), centers=torch.full((1, 2), 0.4))
        assert torch.equal(out[i:i + 1], ref)


@pytest.mark.parametrize('channels', [3, 1])
def test_straight_through_gradient(channels):
    rng = np.random.default_rng(2)
    b = 24
    x = to_tensor_bgr(make_rgb(b, seed=2))[:, :channels].contiguous()
    ops = torch.from_numpy(rng.integers(0, 15, (b, 2)))
    apply = torch.from_numpy(rng.random((b, 2)) < 0.6).float()
    lv0 = torch.from_numpy(rng.uniform(-0.2, 1.2, (b, 2)).astype(np.float32))
    signs = torch.from_numpy(rng.choice([-1.0, 1.0], (b, 2)).astype(np.float32))
    centers = torch.rand(b, 2, 2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = apply_sub_policies(x, ops, apply, lv0, signs, centers)
    levels = lv0.clone().requires_grad_()
    out = apply_sub_policies(x, ops, apply, levels, signs, centers)
    assert torch.equal(out.detach(), ref)  # value unchanged
    out.sum().backward()
    torch.testing.assert_close(levels.grad, apply * (channels * H * W), rtol=0, atol=0)


@pytest.mark.parametrize('k', sorted(DIFFERENTIABLE_OP_INDICES))
def test_surrogate_gradcheck(k):
    """Central finite differences of the bilinear / blend path match autograd."""
    h, w = 9, 11
    g = torch.Generator().manual_seed(k)
    x = (torch.rand(2, 3, h, w, generator=g, dtype=torch.float64) * 255).round()
    levels = torch.tensor([0.3137, 0.8311], dtype=torch.float64, requires_grad=True)
    signs = torch.tensor([1.0, -1.0])

    def fn(lv, img):
        return surrogate_op(img, k, lv, signs=signs)

    assert torch.autograd.gradcheck(lambda lv: fn(lv, x), (levels,), eps=1e-6,
                                    atol=1e-5, rtol=1e-4)
    # input gradient (what lets slot 0's gradient flow through slot 1): fast mode
    assert torch.autograd.gradcheck(fn, (levels, x.clone().requires_grad_()), eps=1e-6,
                                    atol=1e-5, rtol=1e-4, fast_mode=True)
    (gl,) = torch.autograd.grad(fn(levels, x).sum(), levels)
    assert torch.all(gl.abs() > 0)  # the level really gets a gradient


@pytest.mark.parametrize('k', range(15))
def test_exact_gradient_single_op(k):
    b, c = 6, 3
    x = to_tensor_bgr(make_rgb(b, seed=20 + k))
    lv0 = torch.tensor([0.12, 0.34, 0.47, 0.58, 0.71, 0.93])
    signs = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
    centers = torch.rand(b, 2, generator=torch.Generator().manual_seed(k))
    ops = torch.tensor([[k, 0]] * b)
    apply = torch.tensor([[1.0, 0.0]] * b)
    levels = torch.stack([lv0, torch.full((b,), 0.5)], 1).requires_grad_()
    sg = torch.stack([signs, torch.ones(b)], 1)
    ct = torch.stack([centers, centers], 1)
    out = apply_sub_policies(x, ops, apply, levels, sg, ct, magnitude_grad='exact')
    ref = apply_op_batch(x, k, lv0, signs=signs, centers=centers)
    assert torch.equal(out.detach(), ref)  # value is the exact (PIL) one
    (grad,) = torch.autograd.grad(out.sum(), levels)
    assert torch.count_nonzero(grad[:, 1]) == 0
    if k in DIFFERENTIABLE_OP_INDICES:
        lv = lv0.clone().requires_grad_()
        (want,) = torch.autograd.grad(surrogate_op(x, k, lv, signs=signs, centers=centers)
                                      .sum(), lv)
        torch.testing.assert_close(grad[:, 0], want, rtol=1e-5, atol=1e-3)
        assert not torch.allclose(grad[:, 0], torch.full((b,), float(c * H * W)))
    else:  # straight-through fallback
        torch.testing.assert_close(grad[:, 0], torch.full((b,), float(c * H * W)))


def test_exact_gradient_chains_through_second_slot():
    b = 4
    x = to_tensor_bgr(make_rgb(b, seed=9))
    l0 = torch.tensor([0.2, 0.4, 0.7, 0.9])
    l1 = torch.tensor([0.3, 0.55, 0.6, 0.8])
    ones = torch.ones(b, 2)
    centers = torch.full((b, 2, 2), 0.5)
    # (Brightness, Brightness): d sum(out) / d l0 = f1 * 1.8 * sum(x), f1 = 1.8 * l1 + .1
    levels = torch.stack([l0, l1], 1).requires_grad_()
    out = apply_sub_policies(x, torch.tensor([[12, 12]] * b), ones, levels, ones, centers,
                             magnitude_grad='exact')
    (g,) = torch.autograd.grad(out.sum(), levels)
    f1 = (l1.double() * 1.8 + 0.1)
    want0 = f1 * 1.8 * x.double().sum(dim=(1, 2, 3))
    torch.testing.assert_close(g[:, 0].double(), want0, rtol=1e-5, atol=0)
    # (Rotate, Brightness): slot 0's bilinear gradient scaled by the blend factor
    levels = torch.stack([l0, l1], 1).requires_grad_()
    out = apply_sub_policies(x, torch.tensor([[4, 12]] * b), ones, levels, ones, centers,
                             magnitude_grad='exact')
    (g,) = torch.autograd.grad(out.sum(), levels)
    lv = l0.clone().requires_grad_()
    (g_rot,) = torch.autograd.grad(surrogate_op(x, 4, lv).sum(), lv)
    torch.testing.assert_close(g[:, 0], g_rot * f1.float(), rtol=1e-4, atol=1e-2)


def test_grayscale_matches_pil_l_mode():
    levels, signs, centers = sweep(LEVELS[:9], seed=5)
    gray = make_rgb(len(levels), seed=5)[..., 1]
    x = torch.from_numpy(gray).float()[:, None]
    for k, name in enumerate(OP_NAMES):
        got = run_single(x, k, levels, signs, centers)
        assert got.shape == x.shape
        got = got[:, 0].numpy().round().astype(np.int64)
        for i in range(len(levels)):
            ref = pil_op(Image.fromarray(gray[i], 'L'), name, f32(levels[i]), f32(signs[i]),
                         (f32(centers[i, 0]), f32(centers[i, 1])))
            assert np.array_equal(got[i], np.asarray(ref, dtype=np.int64)), (name, i)


def test_rgb_channel_order_and_fill():
    levels, signs, centers = sweep(LEVELS[:8], seed=6)
    rgb = make_rgb(len(levels), seed=6)
    x_bgr = to_tensor_bgr(rgb)
    for k in (4, 10, 11, 14):
        out_bgr = run_single(x_bgr, k, levels, signs, centers, channel_order='bgr')
        out_rgb = run_single(x_bgr.flip(1), k, levels, signs, centers, channel_order='rgb')
        assert torch.equal(out_bgr, out_rgb.flip(1))
    # geometric fill value
    k = OP_NAMES.index('Rotate')
    got = to_numpy_rgb(run_single(x_bgr, k, levels, signs, centers, fill=7.0))
    for i in range(len(levels)):
        ref = pil_op(Image.fromarray(rgb[i]), 'Rotate', f32(levels[i]), f32(signs[i]), fill=7)
        assert np.array_equal(got[i], np.asarray(ref, dtype=np.int64))


def test_deterministic_and_does_not_modify_input():
    rng = np.random.default_rng(11)
    b = 32
    x = to_tensor_bgr(make_rgb(b, seed=11))
    x_copy = x.clone()
    args = (torch.from_numpy(rng.integers(0, 15, (b, 2))),
            torch.from_numpy(rng.random((b, 2)) < 0.7),
            torch.from_numpy(rng.random((b, 2)).astype(np.float32)),
            torch.from_numpy(rng.choice([-1.0, 1.0], (b, 2)).astype(np.float32)),
            torch.from_numpy(rng.random((b, 2, 2)).astype(np.float32)))
    a = apply_sub_policies(x, *args)
    b2 = apply_sub_policies(x, *args)
    assert torch.equal(a, b2) and torch.equal(x, x_copy)
    assert a.min() >= 0 and a.max() <= 255 and torch.equal(a, a.round())
    with pytest.raises(ValueError):
        apply_sub_policies(x, *args, magnitude_grad='nope')


# ------------------------------------------- fast value paths (issue #15): same values
def _reference_warp(x, ix, iy, fill):
    """Gather + where on full [N, H, W] source indices (the generic nearest warp)."""
    n, c, h, w = x.shape
    ixc, iyc = ix.clamp(0, w - 1), iy.clamp(0, h - 1)
    valid = (ixc == ix) & (iyc == iy)
    flat = (iyc * w + ixc).reshape(n, 1, h * w).expand(n, c, h * w)
    out = torch.gather(x.reshape(n, c, h * w), 2, flat).view(n, c, h, w)
    return torch.where(valid.unsqueeze(1), out, fill)


def test_separable_warp_equals_gather_on_any_indices():
    """The scale path's slice / index_select warp equals the gather on consecutive
    (translation) indices, out of range on either side or entirely, and on arbitrary
    separable indices (its fallback)."""
    from dada_mm.search.batched_ops import _warp_separable
    g = torch.Generator().manual_seed(21)
    n, c, h, w = 7, 3, 19, 23
    x = (torch.rand(n, c, h, w, generator=g) * 255).round()
    ar_x, ar_y = torch.arange(w), torch.arange(h)
    ix = torch.stack([ar_x + s for s in (0, 5, -7, 30, -40, 2, 0)])
    iy = torch.stack([ar_y + s for s in (0, -3, 4, 1, 0, -25, 0)])
    ix[5] = torch.randint(-5, w + 5, (w,), generator=g)  # not consecutive: fallback
    iy[6] = torch.randint(-5, h + 5, (h,), generator=g)
    for fill in (torch.tensor(7.0).view(1, 1, 1, 1), torch.tensor([1.0, 2.0, 3.0]).view(
            1, 3, 1, 1)):
        ref = _reference_warp(x, ix.view(n, 1, w).expand(n, h, w),
                              iy.view(n, h, 1).expand(n, h, w), fill)
        for it in (torch.int32, torch.int64):
            assert torch.equal(_warp_separable(x, ix.to(it), iy.to(it), fill), ref)


@pytest.mark.parametrize('channels', (3, 1))
def test_in_place_value_paths_equal_apply_op_batch(channels):
    """apply_sub_policies computes the values in place on its private copy of each op's
    samples; apply_op_batch (no in-place) must give the same values and leave its input
    alone, also on non-contiguous and float64 inputs."""
    g = torch.Generator().manual_seed(22)
    b, h, w = 6, 29, 37
    x = (torch.rand(b, channels, h, w, generator=g) * 255).round()
    x[0] = 0
    x[1, :, :10] = 255
    lv = torch.rand(b, generator=g)
    lv[2] = 0.0
    sg = torch.where(torch.rand(b, generator=g) < 0.5, -1.0, 1.0)
    ct = torch.rand(b, 2, generator=g)
    for k, name in enumerate(OP_NAMES):
        ops = torch.tensor([[k, 0]] * b)
        apply = torch.tensor([[1.0, 0.0]] * b)
        levels = torch.stack([lv, lv], 1)
        got = apply_sub_policies(x, ops, apply, levels, torch.stack([sg, sg], 1),
                                 torch.stack([ct, ct], 1), fill=5.0)
        for xv in (x, x.contiguous(memory_format=torch.channels_last), x.double()):
            before = xv.clone()
            ref = apply_op_batch(xv, name, lv, signs=sg, centers=ct, fill=5.0)
            assert torch.equal(xv, before), name
            assert torch.equal(ref.to(got.dtype), got), name
