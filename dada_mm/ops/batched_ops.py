"""Batched, device-side versions of the 15 DADA ops, for the search stage.

``apply_sub_policies`` takes a float batch ``images`` [B, C, H, W] holding uint8 values
(0..255 as floats, C = 3 or 1) on any device and, for each sample ``i``, applies the two
op slots ``j = 0, 1`` of its sampled sub-policy in stored order, each slot only where
``apply[i, j]`` is set. Only torch ops are used (no numpy / cv2, no Python loop over
pixels). Each op is one small function of ``OP_FUNCTIONS`` (op name ->
``fn(x, args, surrogate)``, checked against the op table on import); the semantics and
constants are those of :mod:`dada_mm.ops.table`.

What callers may rely on, and what it assumes:

* Values reproduce PIL (what the paper used) pixel for pixel, and the warps sample by the
  same rule as ``dada_mm.ops.image_ops`` (``cv_kernels.nearest_source_indices``),
  so the two agree pixel for pixel (``warp='pil'``). ``warp='floor'`` floors in float64
  instead (differs from PIL on ~0.02 % of the pixels of a rotation); ``warp='grid_sample'``
  is torch's own ``affine_grid`` + nearest ``grid_sample`` in the images' dtype (the
  alternative the policy benchmark compares, docs/benchmarks.md).
* Exactness assumes the inputs hold uint8 values (integers 0..255).
* ``magnitude_grad='straight_through'`` (default, the paper's): d out / d level_ij = 1 for
  every pixel of every applied slot, and no gradient flows back to ``images``.
  ``'exact'``: the same values, with the gradient of a differentiable surrogate per op
  (``surrogate_op``; ``DIFFERENTIABLE_KINDS`` says which kinds have a magnitude gradient);
  levels are clamped to [0, 1].

Per-kind semantics, speed notes and the gradients: docs/batched_ops.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from dada_mm.search_space.channels import fill_in_order, rgb_positions

from .table import (
    CUTOUT_FILL_RGB,
    LUMA_SHIFT,
    LUMA_WEIGHTS_RGB,
    OP_INDEX,
    OP_NAMES,
    OPS,
    SMOOTH_DIVISOR,
    SMOOTH_KERNEL,
    MatrixMath,
    OpSpec,
    blend,
    check_registry,
    cutout_box_edges,
    cutout_side,
    ops_of_kind,
)

__all__ = ['apply_sub_policies', 'apply_op_batch', 'surrogate_op', 'affine_matrices',
           'cutout_boxes', 'OP_FUNCTIONS', 'DIFFERENTIABLE_KINDS', 'DIFFERENTIABLE_OPS',
           'DIFFERENTIABLE_OP_INDICES', 'MAGNITUDE_GRAD_MODES', 'WARP_MODES']

#: op kinds whose surrogate gives the magnitude a true gradient in ``'exact'`` mode
#: (warps: bilinear; blends: factor linear in the level); the others fall back to the
#: straight-through term
DIFFERENTIABLE_KINDS = frozenset({'geometric', 'blend'})
#: ops whose magnitude gets a true gradient in ``magnitude_grad='exact'``
DIFFERENTIABLE_OPS = frozenset(op.name for op in OPS if op.kind in DIFFERENTIABLE_KINDS)
DIFFERENTIABLE_OP_INDICES = frozenset(OP_INDEX[name] for name in DIFFERENTIABLE_OPS)
MAGNITUDE_GRAD_MODES = ('straight_through', 'exact')
#: how the geometric ops pick their source pixels: 'pil' (PIL's 16.16 fixed point, the
#: pixels ``DADAAugment`` gives), 'floor' (``floor(A @ c)`` in float64) or 'grid_sample'
#: (``F.affine_grid`` + nearest ``F.grid_sample``)
WARP_MODES = ('pil', 'floor', 'grid_sample')

_NUM_OPS = len(OPS)
#: the functions the table's matrix formulas call, on tensors
_TORCH_MATH = MatrixMath(radians=lambda v: v * (math.pi / 180.0), cos=torch.cos,
                         sin=torch.sin)
(_CUTOUT,) = ops_of_kind('cutout')


# ----------------------------------------------------------------------------- helpers
def _op_spec(op: Union[int, str]) -> OpSpec:
    """The table row of ``op`` (a name or an index)."""
    if isinstance(op, str):
        if op not in OP_INDEX:
            raise KeyError(f'unknown op {op!r}')
        return OPS[OP_INDEX[op]]
    op_index = int(op)
    if not 0 <= op_index < _NUM_OPS:
        raise ValueError(f'op index must be in [0, {_NUM_OPS}), got {op_index}')
    return OPS[op_index]


def _values(spec: OpSpec, levels: torch.Tensor,
            signs: Optional[torch.Tensor]) -> torch.Tensor:
    """Signed op parameter, ``spec.linear(level.clamp(0, 1))`` (times sign).

    Same floating-point operations as ``OpSpec.value`` when ``levels`` is float64.
    """
    v = spec.linear(levels.clamp(0.0, 1.0))
    if spec.random_sign and signs is not None:
        v = v * signs.to(v.dtype)
    return v


def _matrix_entries(spec: OpSpec, values: torch.Tensor, height: int, width: int) -> tuple:
    """The six entries of the op's matrix formula on ``values`` (constants stay numbers)."""
    if spec.affine is None:
        raise KeyError(f'{spec.name!r} is not a geometric op')
    return spec.affine(values, height, width, _TORCH_MATH)


def _stack_matrices(entries: tuple, values: torch.Tensor) -> torch.Tensor:
    """[N, 3, 3] matrices from six entries (tensors [N] or constants)."""
    rows = tuple(e if torch.is_tensor(e) else torch.full_like(values, e) for e in entries)
    top = torch.stack(rows, dim=-1).view(-1, 2, 3)
    last = torch.tensor([0.0, 0.0, 1.0], dtype=values.dtype, device=values.device)
    return torch.cat([top, last.expand(top.shape[0], 1, 3)], dim=1)


def _without_shear_terms(entries: tuple) -> bool:
    """Whether a formula's a1 and a3 are the constant 0 (PIL's scaling path: the
    translations)."""
    return all(not torch.is_tensor(entries[i]) and entries[i] == 0 for i in (1, 3))


def affine_matrices(op: Union[int, str], values: torch.Tensor, height: int,
                    width: int) -> torch.Tensor:
    """Batched torch twin of ``inverse_output_to_input_matrix``: [N] values -> [N, 3, 3].

    The op table's matrix formula evaluated on tensors (the same float operations as the
    numpy version); differentiable in ``values``.
    """
    spec = _op_spec(op)
    return _stack_matrices(_matrix_entries(spec, values, height, width), values)


def _source_coords(mats: torch.Tensor, height: int, width: int):
    """Input (x, y) read by each output pixel centre: two [N, H, W] tensors."""
    dt, dev = mats.dtype, mats.device
    xs = (torch.arange(width, dtype=dt, device=dev) + 0.5).view(1, 1, width)
    ys = (torch.arange(height, dtype=dt, device=dev) + 0.5).view(1, height, 1)
    m = mats.view(-1, 9, 1, 1)
    xin = m[:, 0] * xs + m[:, 1] * ys + m[:, 2]
    yin = m[:, 3] * xs + m[:, 4] * ys + m[:, 5]
    return xin, yin


def _fill_tensor(fill, x: torch.Tensor) -> torch.Tensor:
    f = torch.as_tensor(fill, dtype=x.dtype, device=x.device).reshape(-1)
    if f.numel() not in (1, x.shape[1]):
        raise ValueError(f'fill must be a scalar or have {x.shape[1]} values')
    return f.view(1, -1, 1, 1)


def _pil_source_indices(mats: torch.Tensor, height: int, width: int, scale_path: bool):
    """Integer input (x, y) that PIL's ``ImagingTransformAffine`` (NEAREST) reads.

    PIL does not evaluate ``floor(A @ c)`` in floating point: a matrix with no shear /
    rotation terms (``a1 == a3 == 0``, here: the translations, ``scale_path=True``) goes
    through ``ImagingScaleAffine`` (``floor(a2 + a0 / 2 + a0 * j)`` in double), any other
    through 16.16 fixed point (``FIX(v) = floor(v * 65536 + .5)``, index
    ``(FIX(origin) + j*FIX(a0) + i*FIX(a1)) >> 16``). Reproduced with int64 arithmetic,
    so it is also bit-identical across devices. Returns int64 (x, y), broadcastable to
    [N, H, W] (separable [N, 1, W] / [N, H, 1] on the scale path).
    """
    dev = mats.device
    n = mats.shape[0]
    m = mats.to(torch.float64).reshape(n, 9)
    a0, a1, a2, a3, a4, a5 = (m[:, i].view(n, 1, 1) for i in range(6))
    if scale_path:
        jj = torch.arange(width, dtype=torch.float64, device=dev).view(1, 1, width)
        ii = torch.arange(height, dtype=torch.float64, device=dev).view(1, height, 1)
        return (torch.floor((a2 + a0 * 0.5) + a0 * jj).long(),
                torch.floor((a5 + a4 * 0.5) + a4 * ii).long())
    # PIL's C ints are 32 bit; int32 is exact here (and faster) while |coords| < 2**15,
    # guaranteed for |a0|, |a1|, |a3|, |a4| <= 2, |a2|, |a5| < 4000 and H + W < 4000;
    # int64 otherwise.
    lin = m[:, [0, 1, 3, 4]].abs().amax() if n else m.new_zeros(())
    off = m[:, [2, 5]].abs().amax() if n else m.new_zeros(())
    small = bool(((lin <= 2.0) & (off < 4000.0)).item()) and height + width < 4000
    it = torch.int32 if small else torch.int64
    jj = torch.arange(width, device=dev, dtype=it).view(1, 1, width)
    ii = torch.arange(height, device=dev, dtype=it).view(1, height, 1)

    def fix(v):
        return torch.floor(v * 65536.0 + 0.5).to(it)

    x_org = fix(a2 + a1 * 0.5 + a0 * 0.5)
    y_org = fix(a5 + a4 * 0.5 + a3 * 0.5)
    xi = ((x_org + ii * fix(a1)) + jj * fix(a0)) >> 16
    yi = ((y_org + ii * fix(a4)) + jj * fix(a3)) >> 16
    return xi, yi


def _warp_grid_sample(x: torch.Tensor, mats: torch.Tensor,
                      fill_t: torch.Tensor) -> torch.Tensor:
    """Nearest warp by torch's ``affine_grid`` + ``grid_sample`` (align_corners=False:
    -1 / +1 are the outer pixel edges, PIL's frame) in ``x``'s dtype; out-of-bounds
    pixels take ``fill``."""
    n, c, h, w = x.shape
    m = mats.to(torch.float64)
    # pixel-frame matrix -> normalised frame: x_px = (x_n + 1) * w / 2
    theta = torch.stack([
        torch.stack([m[:, 0, 0], m[:, 0, 1] * (h / w),
                     m[:, 0, 0] + m[:, 0, 1] * (h / w) + m[:, 0, 2] * (2.0 / w) - 1.0], 1),
        torch.stack([m[:, 1, 0] * (w / h), m[:, 1, 1],
                     m[:, 1, 0] * (w / h) + m[:, 1, 1] + m[:, 1, 2] * (2.0 / h) - 1.0], 1),
    ], 1).to(x.dtype)
    grid = F.affine_grid(theta, [n, c, h, w], align_corners=False)
    out = F.grid_sample(x - fill_t, grid, mode='nearest', padding_mode='zeros',
                        align_corners=False)
    return out + fill_t


def _warp_nearest(x: torch.Tensor, mats64: torch.Tensor, fill_t: torch.Tensor,
                  warp: str = 'pil', scale_path: bool = False):
    n, c, h, w = x.shape
    if warp == 'grid_sample':
        return _warp_grid_sample(x, mats64, fill_t)
    if warp == 'pil':
        ix, iy = _pil_source_indices(mats64, h, w, scale_path)
        if scale_path and x.device.type == 'cpu':
            return _warp_separable(x, ix.view(n, w), iy.view(n, h), fill_t)
    else:
        xin, yin = _source_coords(mats64, h, w)
        ix, iy = torch.floor(xin).long(), torch.floor(yin).long()
    rows_kept = (iy.shape == (n, h, w) and n > 0
                 and bool(((mats64[:, 1, 0] == 0) & (mats64[:, 1, 1] == 1)).all()))
    if rows_kept and bool((iy == torch.arange(h, device=x.device,
                                              dtype=iy.dtype).view(1, h, 1)).all()):
        # every output pixel reads its own row (ShearX): a gather within rows (cache
        # friendly, much faster than the flat gather), same values
        ixc = ix.clamp(0, w - 1)
        out = torch.gather(x, 3, ixc.view(n, 1, h, w).long().expand(n, c, h, w))
        return torch.where((ixc == ix).unsqueeze(1), out, fill_t)
    cols_kept = (ix.shape == (n, h, w) and n > 0 and x.device.type == 'cpu'
                 and bool(((mats64[:, 0, 0] == 1) & (mats64[:, 0, 1] == 0)).all()))
    if cols_kept and bool((ix == torch.arange(w, device=x.device,
                                              dtype=ix.dtype).view(1, 1, w)).all()):
        # every output pixel reads its own column (ShearY): the same gather within rows
        # on the transposed image (two transposing copies are cheaper than the flat
        # gather on CPU), same values
        iyc = iy.clamp(0, h - 1)
        idx_t = iyc.transpose(1, 2).reshape(n, 1, w, h).long().expand(n, c, w, h)
        out_t = torch.gather(x.transpose(2, 3).contiguous(), 3, idx_t)
        out = torch.where((iyc == iy).unsqueeze(1), out_t.transpose(2, 3), fill_t)
        return out.contiguous()
    ixc, iyc = ix.clamp(0, w - 1), iy.clamp(0, h - 1)
    valid = (ixc == ix) & (iyc == iy)
    flat_idx = (iyc * w + ixc).expand(n, h, w).reshape(n, 1, h * w).long()
    out = torch.gather(x.reshape(n, c, h * w), 2, flat_idx.expand(n, c, h * w))
    return torch.where(valid.unsqueeze(1), out.view(n, c, h, w), fill_t)


def _warp_separable(x: torch.Tensor, ix: torch.Tensor, iy: torch.Tensor,
                    fill_t: torch.Tensor) -> torch.Tensor:
    """``_warp_nearest`` for separable source indices (the scale path: output (i, j)
    reads input (iy[i], ix[j])), the same values as the gather + ``where``. Per sample:
    where the indices are consecutive (``ix[j] = ix[0] + j``, the translations), one
    slice copy of the in-bounds block and ``fill`` around it; otherwise a row then a
    column ``index_select`` and ``fill`` on the out-of-bounds rows / columns."""
    n, c, h, w = x.shape
    fill = fill_t.view(-1, 1, 1)
    out = torch.empty_like(x, memory_format=torch.contiguous_format)
    step_x = ((ix[:, 1:] - ix[:, :-1]) == 1).all(dim=1).tolist()
    step_y = ((iy[:, 1:] - iy[:, :-1]) == 1).all(dim=1).tolist()
    x0s, y0s = ix[:, 0].tolist(), iy[:, 0].tolist()
    for i in range(n):
        o = out[i]
        if step_x[i] and step_y[i]:
            sx, sy = x0s[i], y0s[i]
            c0, c1 = min(max(0, -sx), w), max(min(w, w - sx), 0)
            r0, r1 = min(max(0, -sy), h), max(min(h, h - sy), 0)
            if c1 <= c0 or r1 <= r0:
                o.copy_(fill.expand_as(o))
                continue
            o[:, r0:r1, c0:c1] = x[i, :, sy + r0:sy + r1, sx + c0:sx + c1]
            o[:, :r0] = fill
            o[:, r1:] = fill
            o[:, r0:r1, :c0] = fill
            o[:, r0:r1, c1:] = fill
            continue
        ixc, iyc = ix[i].clamp(0, w - 1), iy[i].clamp(0, h - 1)
        torch.index_select(x[i].index_select(1, iyc), 2, ixc, out=o)
        o[:, iyc != iy[i], :] = fill
        o[:, :, ixc != ix[i]] = fill
    return out


def _warp_bilinear(x: torch.Tensor, mats: torch.Tensor, fill_t: torch.Tensor):
    n, c, h, w = x.shape
    xin, yin = _source_coords(mats, h, w)
    # align_corners=False: normalised -1 / +1 are the outer edges, i.e. PIL's frame.
    grid = torch.stack([xin * (2.0 / w) - 1.0, yin * (2.0 / h) - 1.0], dim=-1)
    out = F.grid_sample(x - fill_t, grid.to(x.dtype), mode='bilinear',
                        padding_mode='zeros', align_corners=False)
    return out + fill_t


def _luma_int(x: torch.Tensor, rgb: Tuple[int, int, int]) -> torch.Tensor:
    """PIL ``convert('L')`` as int64 [N, 1, H, W]."""
    if x.shape[1] == 1:
        return x.round().long()
    xi = x.round().long()
    r, g, b = (xi[:, i:i + 1] for i in rgb)
    wr, wg, wb = LUMA_WEIGHTS_RGB
    return (r * wr + g * wg + b * wb + (1 << (LUMA_SHIFT - 1))) >> LUMA_SHIFT


def _luma_exact(x: torch.Tensor, rgb: Tuple[int, int, int]) -> torch.Tensor:
    """``_luma_int`` as floats of ``x.dtype`` [N, 1, H, W], for uint8-valued ``x``.

    Computed in the float dtype: every weighted sum is an integer below ``255 * 2**16 +
    2**15 < 2**24``, so exact in float32 in any order, and ``>> 16`` is ``floor(s *
    2**-16)`` (a power of two), so the value equals the integer luma (no int64 pass).
    """
    if x.shape[1] == 1:
        return x.clone()
    r, g, b = (x[:, i:i + 1] for i in rgb)
    wr, wg, wb = LUMA_WEIGHTS_RGB
    luma = r * float(wr)
    luma.add_(g, alpha=float(wg)).add_(b, alpha=float(wb))
    return luma.add_(float(1 << (LUMA_SHIFT - 1))).mul_(2.0 ** -LUMA_SHIFT).floor_()


def _luma_float(x: torch.Tensor, rgb: Tuple[int, int, int]) -> torch.Tensor:
    """Unrounded, differentiable luma (surrogate of ``_luma_int``)."""
    if x.shape[1] == 1:
        return x
    r, g, b = (x[:, i:i + 1] for i in rgb)
    wr, wg, wb = LUMA_WEIGHTS_RGB
    return (r * wr + g * wg + b * wb) / float(1 << LUMA_SHIFT)


def _pil_blend(degenerate: Optional[torch.Tensor], image: torch.Tensor,
               factor64: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """``Image.blend(degenerate, image, factor)`` in float32 as PIL's C code, as uint8.

    ``blend``'s ``d + a * (x - d)`` evaluated in place on one float32 buffer (``image``
    itself when ``inplace`` and float32): the same float operations, one temporary.
    ``degenerate`` (broadcastable to ``image``) None means 0 (``0 + a * (x - 0)``).
    """
    a = factor64.to(torch.float32).view(-1, 1, 1, 1)
    x32 = image.to(torch.float32)
    own = inplace or x32.data_ptr() != image.data_ptr()
    if degenerate is None:
        t = x32.mul_(a) if own else x32 * a
        t.add_(0.0)  # 0 + (-0.0) is +0.0, as in the blend
    else:
        d = degenerate.to(torch.float32)
        t = x32.sub_(d) if own else x32 - d
        t.mul_(a).add_(d)
    return t.clamp_(0.0, 255.0).trunc_().to(image.dtype)


def _smooth_sum(x: torch.Tensor) -> torch.Tensor:
    """Interior 3x3 sums with the SMOOTH kernel (integer weights), [N, C, H-2, W-2]."""
    c = x.shape[1]
    kernel = torch.tensor(SMOOTH_KERNEL, dtype=x.dtype, device=x.device)
    return F.conv2d(x, kernel.expand(c, 1, 3, 3), groups=c)


def _with_border(x: torch.Tensor, interior: torch.Tensor) -> torch.Tensor:
    return torch.cat([x[:, :, :1], torch.cat([x[:, :, 1:-1, :1], interior,
                                              x[:, :, 1:-1, -1:]], dim=3),
                      x[:, :, -1:]], dim=2)


def _row_indices(x: torch.Tensor) -> torch.Tensor:
    """Flat indices ``row * 256 + v`` (row = sample * C + channel) of uint8-valued ``x``
    into [N*C, 256] tables, int32 (int64 past 2**31 entries), [N*C*H*W]."""
    n, c = x.shape[:2]
    it = torch.int32 if n * c * 256 < 2 ** 31 else torch.int64
    idx = x.to(it, memory_format=torch.contiguous_format)
    idx.add_((torch.arange(n * c, device=x.device, dtype=it) * 256).view(n, c, 1, 1))
    return idx.view(-1)


def _lut_take(idx: torch.Tensor, lut: torch.Tensor, shape, dtype) -> torch.Tensor:
    """Values of the tables ``lut`` [N*C, 256] at ``_row_indices``, as ``dtype``."""
    return lut.to(dtype).view(-1).index_select(0, idx).view(shape)


def _equalize_lut(hist: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Equalize tables [rows, 256] (int64) from the histograms [rows, 256]."""
    ar = torch.arange(256, device=hist.device)
    nonzero = hist > 0
    last = torch.where(nonzero, ar, -1).amax(dim=1, keepdim=True)
    h_last = torch.gather(hist, 1, last.clamp(min=0))
    step = (h * w - h_last) // 255
    identity = (nonzero.sum(dim=1, keepdim=True) <= 1) | (step == 0)
    step_safe = step.clamp(min=1)
    cum_excl = torch.cumsum(hist, dim=1) - hist
    lut = torch.div(step_safe // 2 + cum_excl, step_safe, rounding_mode='floor')
    return torch.where(identity, ar, lut).clamp(0, 255)


def _autocontrast_params(x: torch.Tensor):
    """Per sample/channel (scale, offset) float64 [N, C, 1, 1] and identity mask."""
    lo = x.amin(dim=(2, 3), keepdim=True).to(torch.float64)
    hi = x.amax(dim=(2, 3), keepdim=True).to(torch.float64)
    identity = hi <= lo
    # torch.div, not ``255.0 / t`` (rdiv is computed as 255 * (1 / t), off by an ulp)
    scale = torch.div(torch.full_like(hi, 255.0), torch.where(identity, torch.ones_like(hi),
                                                              hi - lo))
    offset = -lo * scale
    return scale, offset, identity


def _autocontrast_lut(x: torch.Tensor) -> torch.Tensor:
    n, c = x.shape[:2]
    scale, offset, identity = _autocontrast_params(x)
    ar = torch.arange(256, dtype=torch.float64, device=x.device).view(1, 1, 256)
    scale, offset, identity = (t.view(n * c, 1) for t in (scale, offset, identity))
    v = ar.view(1, 256) * scale
    v = v + offset
    lut = torch.floor(v).clamp(0, 255).long()
    return torch.where(identity, ar.view(1, 256).long(), lut)


def _at_least(t: torch.Tensor, lo) -> torch.Tensor:
    return torch.clamp(t, min=float(lo))


def _at_most(t: torch.Tensor, hi) -> torch.Tensor:
    return torch.clamp(t, max=float(hi))


def cutout_boxes(height: int, width: int, levels: torch.Tensor,
                 centers: torch.Tensor) -> torch.Tensor:
    """Half-open int64 boxes [N, 4] = (x0, y0, x1, y1) painted by Cutout.

    ``ops.cutout_box_edges`` on tensors: Fast-AA ``CutoutAbs`` with side ``cutout_side``
    of the level's parameter and centre ``(cx * width, cy * height)``, then PIL
    ``rectangle`` (inclusive, int corners). A side <= 0 (level 0) gives an empty box
    ``x1 == x0``, ``y1 == y0`` (Fast-AA's Cutout returns the image unchanged).
    """
    lv = levels.detach().to(torch.float64)
    side = cutout_side(_values(_CUTOUT, lv, None), width)
    c = centers.detach().to(torch.float64)
    x0, y0, x1, y1 = cutout_box_edges(side, c[:, 0], c[:, 1], height, width, torch.floor,
                                      _at_least, _at_most)
    empty = side <= 0
    x1 = torch.where(empty, x0, x1)
    y1 = torch.where(empty, y0, y1)
    return torch.stack([x0, y0, x1, y1], dim=1).long()


def _box_mask(box: torch.Tensor, h: int, w: int) -> torch.Tensor:
    ys = torch.arange(h, device=box.device).view(1, 1, h, 1)
    xs = torch.arange(w, device=box.device).view(1, 1, 1, w)
    b = box.view(-1, 4, 1, 1)
    return ((xs >= b[:, 0:1]) & (xs < b[:, 2:3]) & (ys >= b[:, 1:2]) & (ys < b[:, 3:4]))


def _cutout_fill(x: torch.Tensor, channel_order: str, cutout_fill_rgb) -> torch.Tensor:
    fill = fill_in_order(tuple(int(v) for v in cutout_fill_rgb), x.shape[1], channel_order)
    vals = list(fill) if isinstance(fill, tuple) else [fill]
    return torch.tensor(vals, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)


# ------------------------------------------------------------------ the ops, by name
@dataclass
class _OpArgs:
    """One op's inputs besides the images, for the samples that use it."""
    spec: OpSpec
    levels: torch.Tensor   # [N], as given (may require grad)
    signs: torch.Tensor    # [N]
    centers: torch.Tensor  # [N, 2]
    channel_order: str
    rgb: Tuple[int, int, int]
    fill: torch.Tensor     # [1, C or 1, 1, 1]
    cutout_fill_rgb: Sequence[int]
    warp: str = 'pil'
    #: the exact value may overwrite ``x`` (a private copy, no surrogate needed)
    inplace: bool = False
    levels64: torch.Tensor = field(init=False)  # detached float64 copy of ``levels``

    def __post_init__(self):
        self.levels64 = self.levels.detach().to(torch.float64)


# Each op is ``fn(x, a, surrogate)``: ``surrogate=False`` gives the exact (PIL) value
# (called under no_grad on detached images), ``surrogate=True`` the differentiable
# surrogate described in docs/batched_ops.md.
OpFunction = Callable[[torch.Tensor, _OpArgs, bool], torch.Tensor]


def _geometric(x: torch.Tensor, a: _OpArgs, surrogate: bool) -> torch.Tensor:
    h, w = x.shape[2:]
    if surrogate:
        lv = a.levels.to(torch.float64) if x.dtype != torch.float64 else a.levels
        values = _values(a.spec, lv, a.signs.detach())
        entries = _matrix_entries(a.spec, values, h, w)
        return _warp_bilinear(x, _stack_matrices(entries, values), a.fill)
    values = _values(a.spec, a.levels64, a.signs.detach())
    entries = _matrix_entries(a.spec, values, h, w)
    return _warp_nearest(x, _stack_matrices(entries, values), a.fill, a.warp,
                         scale_path=_without_shear_terms(entries))


def _auto_contrast(x: torch.Tensor, a: _OpArgs, surrogate: bool) -> torch.Tensor:
    if surrogate:
        scale, offset, identity = _autocontrast_params(x.detach())
        return torch.where(identity, x, x * scale.to(x.dtype) + offset.to(x.dtype))
    return _lut_take(_row_indices(x), _autocontrast_lut(x), x.shape, x.dtype)


def _invert(x: torch.Tensor, a: _OpArgs, surrogate: bool) -> torch.Tensor:
    return 255.0 - x


def _equalize(x: torch.Tensor, a: _OpArgs, surrogate: bool) -> torch.Tensor:
    if surrogate:
        return x
    n, c, h, w = x.shape
    idx = _row_indices(x)
    hist = torch.bincount(idx, minlength=n * c * 256).view(n * c, 256)
    return _lut_take(idx, _equalize_lut(hist, h, w), x.shape, x.dtype)


def _solarize(x: torch.Tensor, a: _OpArgs, surrogate: bool) -> torch.Tensor:
    # PIL: lut[i] = i if i < thr else 255 - i, thr = level * 256 (a float)
    thr = torch.ceil(_values(a.spec, a.levels64, None)).to(x.dtype).view(-1, 1, 1, 1)
    if surrogate:
        return torch.where(x.detach() >= thr, 255.0 - x, x)
    # value (x uint8-valued, thr an integer): |x - 255 m| with m = [x >= thr] =
    # clamp(x - thr + 1, 0, 1), i.e. 255 - x or x; exact integer arithmetic in one
    # buffer, no (slow) bool-mask where
    m = (x - thr).add_(1.0).clamp_(0.0, 1.0)
    return m.mul_(-255.0).add_(x).abs_()


def _posterize(x: torch.Tensor, a: _OpArgs, surrogate: bool) -> torch.Tensor:
    if surrogate:
        return x
    bits = torch.floor(_values(a.spec, a.levels64, None))
    q = torch.pow(2.0, 8.0 - bits).to(x.dtype).view(-1, 1, 1, 1)
    return (x.div_(q) if a.inplace else x / q).floor_().mul_(q)


def _contrast_degenerate(x: torch.Tensor, rgb, exact: bool) -> torch.Tensor:
    """Constant image at the rounded mean of L."""
    n, c, h, w = x.shape
    if exact:
        total = _luma_int(x, rgb).sum(dim=(1, 2, 3)).to(torch.float64)
        # tensor / tensor: CUDA turns a scalar divisor into a reciprocal multiply
        mean = torch.floor(torch.div(total, torch.full_like(total, float(h * w))) + 0.5)
        return mean.to(x.dtype).view(n, 1, 1, 1).expand(n, c, h, w)
    return _luma_float(x, rgb).mean(dim=(1, 2, 3), keepdim=True).expand(n, c, h, w)


def _color_degenerate(x: torch.Tensor, rgb, exact: bool) -> torch.Tensor:
    """The L image."""
    if exact:
        return _luma_int(x, rgb).to(x.dtype).expand(x.shape)
    return _luma_float(x, rgb).expand(x.shape)


def _brightness_degenerate(x: torch.Tensor, rgb, exact: bool) -> torch.Tensor:
    """Black."""
    return torch.zeros_like(x)


def _sharpness_degenerate(x: torch.Tensor, rgb, exact: bool) -> torch.Tensor:
    """SMOOTH filter, border pixels kept."""
    if x.shape[2] < 3 or x.shape[3] < 3:
        return x
    s = _smooth_sum(x)
    s = torch.floor(s / float(SMOOTH_DIVISOR) + 0.5) if exact else s / float(SMOOTH_DIVISOR)
    return _with_border(x, s)


def _contrast_value(x: torch.Tensor, a: _OpArgs, f64: torch.Tensor) -> torch.Tensor:
    n, _, h, w = x.shape
    total = _luma_exact(x, a.rgb).sum(dim=(1, 2, 3), dtype=torch.float64)
    mean = torch.floor(torch.div(total, torch.full_like(total, float(h * w))) + 0.5)
    return _pil_blend(mean.to(x.dtype).view(n, 1, 1, 1), x, f64, a.inplace)


def _color_value(x: torch.Tensor, a: _OpArgs, f64: torch.Tensor) -> torch.Tensor:
    return _pil_blend(_luma_exact(x, a.rgb), x, f64, a.inplace)


def _brightness_value(x: torch.Tensor, a: _OpArgs, f64: torch.Tensor) -> torch.Tensor:
    return _pil_blend(None, x, f64, a.inplace)


_SMOOTH_ONES_BUT_CENTRE = all(v == 1 for i, row in enumerate(SMOOTH_KERNEL)
                              for j, v in enumerate(row) if (i, j) != (1, 1))


def _smooth_sum_exact(x: torch.Tensor) -> torch.Tensor:
    """``_smooth_sum`` of uint8-valued ``x`` as separable box sums plus the extra centre
    weight (integer sums below 2**24: exact, equal to the convolution)."""
    if not _SMOOTH_ONES_BUT_CENTRE:
        return _smooth_sum(x)
    rows = x[..., :-2] + x[..., 1:-1]
    rows += x[..., 2:]
    s = rows[:, :, :-2] + rows[:, :, 1:-1]
    s += rows[:, :, 2:]
    return s.add_(x[:, :, 1:-1, 1:-1], alpha=float(SMOOTH_KERNEL[1][1] - 1))


def _sharpness_value(x: torch.Tensor, a: _OpArgs, f64: torch.Tensor) -> torch.Tensor:
    # the border keeps x (degenerate = x there: x + f * 0, uint8 values unchanged), so
    # only the interior is blended, in place on the output's interior view
    out = x if a.inplace else x.clone()
    if x.shape[2] < 3 or x.shape[3] < 3:
        return out
    deg = _smooth_sum_exact(x).div_(float(SMOOTH_DIVISOR)).add_(0.5).floor_()
    inner = out[:, :, 1:-1, 1:-1]
    if out.dtype != torch.float32:
        inner.copy_(_pil_blend(deg, inner, f64))
        return out
    af = f64.to(torch.float32).view(-1, 1, 1, 1)
    inner.sub_(deg).mul_(af).add_(deg).clamp_(0.0, 255.0).trunc_()
    return out


def _blend(degenerate: Callable[[torch.Tensor, Tuple[int, int, int], bool], torch.Tensor],
           value: Callable[[torch.Tensor, _OpArgs, torch.Tensor], torch.Tensor]
           ) -> OpFunction:
    """A blend op: ``Image.blend(degenerate(x), x, factor)`` (the same for every blend);
    ``value(x, a, factor64)`` is its exact value (the same map, with fewer passes)."""
    def apply(x: torch.Tensor, a: _OpArgs, surrogate: bool) -> torch.Tensor:
        if surrogate:
            deg = degenerate(x, a.rgb, False)
            f = _values(a.spec, a.levels, None).to(x.dtype).view(-1, 1, 1, 1)
            return blend(deg, x, f)
        return value(x, a, _values(a.spec, a.levels64, None))
    return apply


def _cutout(x: torch.Tensor, a: _OpArgs, surrogate: bool) -> torch.Tensor:
    h, w = x.shape[2:]
    boxes = cutout_boxes(h, w, a.levels64, a.centers)
    fill = _cutout_fill(x, a.channel_order, a.cutout_fill_rgb)
    if x.device.type != 'cpu' or (surrogate and x.requires_grad):
        return torch.where(_box_mask(boxes, h, w), fill, x)
    # CPU: paint each box with a slice assignment (no full-image mask / where)
    out = x if a.inplace else x.clone()
    for i, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 > x0 and y1 > y0:
            out[i, :, y0:y1, x0:x1] = fill[0]
    return out


_REGISTRY: Dict[str, OpFunction] = {
    **{op.name: _geometric for op in ops_of_kind('geometric')},
    'AutoContrast': _auto_contrast,
    'Invert': _invert,
    'Equalize': _equalize,
    'Solarize': _solarize,
    'Posterize': _posterize,
    'Contrast': _blend(_contrast_degenerate, _contrast_value),
    'Color': _blend(_color_degenerate, _color_value),
    'Brightness': _blend(_brightness_degenerate, _brightness_value),
    'Sharpness': _blend(_sharpness_degenerate, _sharpness_value),
    'Cutout': _cutout,
}
check_registry(_REGISTRY, 'dada_mm.ops.batched_ops.OP_FUNCTIONS')
#: op name -> ``fn(x, args, surrogate)``, in table order
OP_FUNCTIONS: Dict[str, OpFunction] = {name: _REGISTRY[name] for name in OP_NAMES}


def _op_forward(x: torch.Tensor, a: _OpArgs, want_value: bool = True,
                want_surrogate: bool = False):
    """Op ``a.spec`` on every sample of ``x``: (exact value or None, surrogate or None)."""
    fn = OP_FUNCTIONS[a.spec.name]
    value = sur = None
    if want_value:
        with torch.no_grad():
            value = fn(x.detach(), a, False)
    if want_surrogate:
        sur = fn(x, a, True)
    return value, sur


def _check_warp(warp: str) -> None:
    if warp not in WARP_MODES:
        raise ValueError(f'warp must be one of {list(WARP_MODES)}, got {warp!r}')


def _prepare(images: torch.Tensor) -> torch.Tensor:
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f'images must be [B, C, H, W] with C in (1, 3), got '
                         f'{tuple(images.shape)}')
    if not images.is_floating_point():
        images = images.to(torch.float32)
    return images


def _per_sample(t, b: int, shape, default: float, device, dtype=torch.float32):
    if t is None:
        return torch.full((b,) + shape, default, dtype=dtype, device=device)
    t = torch.as_tensor(t, device=device)
    return t.expand((b,) + shape) if t.shape != (b,) + shape else t


# ------------------------------------------------------------------------- public API
def apply_op_batch(images: torch.Tensor, op: Union[int, str], levels: torch.Tensor, *,
                   signs: Optional[torch.Tensor] = None,
                   centers: Optional[torch.Tensor] = None, channel_order: str = 'bgr',
                   fill: Union[float, Sequence[float]] = 0.0,
                   cutout_fill_rgb=CUTOUT_FILL_RGB,
                   warp: str = 'pil') -> torch.Tensor:
    """Exact value of one op (a name or an index) applied to every sample (no gradient).
    levels/signs: [B], centers: [B, 2] fractions; ``warp``: see ``apply_sub_policies``."""
    _check_warp(warp)
    x = _prepare(images)
    b = x.shape[0]
    spec = _op_spec(op)
    lvl = _per_sample(levels, b, (), 0.5, x.device)
    sg = _per_sample(signs, b, (), 1.0, x.device)
    ct = _per_sample(centers, b, (2,), 0.5, x.device)
    args = _OpArgs(spec, lvl, sg, ct, channel_order, rgb_positions(channel_order),
                   _fill_tensor(fill, x), cutout_fill_rgb, warp)
    value, _ = _op_forward(x, args)
    return value


def surrogate_op(images: torch.Tensor, op: Union[int, str], levels: torch.Tensor, *,
                 signs: Optional[torch.Tensor] = None,
                 centers: Optional[torch.Tensor] = None, channel_order: str = 'bgr',
                 fill: Union[float, Sequence[float]] = 0.0,
                 cutout_fill_rgb=CUTOUT_FILL_RGB) -> torch.Tensor:
    """Differentiable surrogate whose gradient ``magnitude_grad='exact'`` uses.

    Bilinear warp for the geometric ops, unclipped unrounded blend for the blend
    (ImageEnhance) ops; for the other ops the input-gradient surrogate described in the
    module doc. Differentiable in ``images`` and (for ``DIFFERENTIABLE_KINDS``) in
    ``levels``.
    """
    x = _prepare(images)
    b = x.shape[0]
    spec = _op_spec(op)
    lvl = _per_sample(levels, b, (), 0.5, x.device, x.dtype)
    sg = _per_sample(signs, b, (), 1.0, x.device)
    ct = _per_sample(centers, b, (2,), 0.5, x.device)
    args = _OpArgs(spec, lvl, sg, ct, channel_order, rgb_positions(channel_order),
                   _fill_tensor(fill, x), cutout_fill_rgb)
    _, sur = _op_forward(x, args, want_value=False, want_surrogate=True)
    return sur


def apply_sub_policies(images: torch.Tensor, op_indices: torch.Tensor,
                       apply: torch.Tensor, levels: torch.Tensor,
                       signs: Optional[torch.Tensor], centers: Optional[torch.Tensor], *,
                       channel_order: str = 'bgr',
                       fill: Union[float, Sequence[float]] = 0.0,
                       cutout_fill_rgb=CUTOUT_FILL_RGB,
                       magnitude_grad: str = 'straight_through',
                       warp: str = 'pil') -> torch.Tensor:
    """Apply each sample's two-op sub-policy (slot 0 then slot 1) to a batch.

    Args:
        images: float [B, C, H, W], uint8 values 0..255, C = 3 (``channel_order``) or 1.
        op_indices: long [B, 2], op index (``OP_INDEX``) of each slot.
        apply: [B, 2] 0/1 (float or bool); a slot is applied where ``apply > 0.5``.
        levels: [B, 2] levels (clamped to [0, 1] for the ops); may require grad.
        signs: [B, 2] +-1, sign of the geometric ops (None: +1).
        centers: [B, 2, 2] Cutout centre fractions (cx, cy) in [0, 1) (None: 0.5).
        channel_order: 'bgr' (default, mmcv) or 'rgb'; used by Contrast, Color and the
            Cutout fill.
        fill: geometric out-of-bounds value (scalar or one per channel).
        cutout_fill_rgb: Cutout colour in RGB order.
        magnitude_grad: 'straight_through' (default, the paper's) or 'exact'; see the
            module docstring and docs/batched_ops.md.
        warp: the geometric ops' source pixels (``WARP_MODES``): as PIL computes them
            ('pil', 16.16 fixed point, default), ``floor(A @ c)`` in float64 ('floor';
            differs on ~0.02 % of the pixels of a rotation / shear), or torch's nearest
            ``affine_grid`` / ``grid_sample`` ('grid_sample').

    Returns:
        float [B, C, H, W] with values 0..255, equal to the PIL ops pixel for pixel
        (``warp='pil'``).
    """
    _check_warp(warp)
    if magnitude_grad not in MAGNITUDE_GRAD_MODES:
        raise ValueError(f'magnitude_grad must be one of {MAGNITUDE_GRAD_MODES}, got '
                         f'{magnitude_grad!r}')
    x0 = _prepare(images)
    b, c, h, w = x0.shape
    dev = x0.device
    rgb = rgb_positions(channel_order)
    fill_t = _fill_tensor(fill, x0)
    op_idx = torch.as_tensor(op_indices, device=dev).long()
    if op_idx.shape != (b, 2):
        raise ValueError(f'op_indices must be [{b}, 2], got {tuple(op_idx.shape)}')
    if bool(((op_idx < 0) | (op_idx >= _NUM_OPS)).any()):
        raise ValueError(f'op_indices must be in [0, {_NUM_OPS})')
    applyf = torch.as_tensor(apply, device=dev)
    applyf = applyf.to(x0.dtype) if applyf.dtype == torch.bool else applyf
    applied = applyf > 0.5
    levels = torch.as_tensor(levels, device=dev)
    if not levels.is_floating_point():
        levels = levels.to(x0.dtype)
    sg = _per_sample(signs, b, (2,), 1.0, dev)
    ct = _per_sample(centers, b, (2, 2), 0.5, dev)
    for name, t, shape in (('apply', applyf, (b, 2)), ('levels', levels, (b, 2)),
                           ('signs', sg, (b, 2)), ('centers', ct, (b, 2, 2))):
        if tuple(t.shape) != shape:
            raise ValueError(f'{name} must have shape {shape}, got {tuple(t.shape)}')

    exact = magnitude_grad == 'exact'
    grad_on = torch.is_grad_enabled()
    x = x0.clone() if (exact and grad_on and x0.requires_grad) else x0.detach().clone()
    for j in range(2):
        for spec in OPS:
            idx = torch.nonzero(applied[:, j] & (op_idx[:, j] == spec.index)).view(-1)
            if idx.numel() == 0:
                continue
            xs = x.index_select(0, idx)
            lv = levels[:, j].index_select(0, idx)
            need_sur = exact and grad_on and (xs.requires_grad or lv.requires_grad)
            args = _OpArgs(spec, lv, sg[:, j].index_select(0, idx),
                           ct[:, j].index_select(0, idx), channel_order, rgb, fill_t,
                           cutout_fill_rgb, warp)
            args.inplace = not need_sur  # xs is index_select's copy
            value, sur = _op_forward(xs, args, want_value=True, want_surrogate=need_sur)
            if need_sur:
                out = value + (sur - sur.detach())
                if spec.kind not in DIFFERENTIABLE_KINDS and lv.requires_grad:
                    a = applyf[:, j].index_select(0, idx).to(x.dtype)
                    out = out + (a * (lv - lv.detach())).to(x.dtype).view(-1, 1, 1, 1)
            else:
                out = value
            x.index_copy_(0, idx, out)

    if not exact and grad_on and levels.requires_grad:
        st = (applyf.to(levels.dtype) * (levels - levels.detach())).sum(dim=1)
        x = x.detach() + st.to(x.dtype).view(b, 1, 1, 1)
    return x
