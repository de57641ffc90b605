"""Throughput of the batched DADA ops (the search's augmentation on the training device)
against kornia and torchvision.transforms.v2, in the same run, on the same device.

Workload (the search's): a batch of ``--batch-size`` images of ``--size`` px; every image
draws its own sub-policy (uniform over the 105 op pairs), an on/off draw per slot
(``--prob``, 0.5 = the search's starting point), a level per slot (U[0, 1], mapped to each
op's range, random sign for the geometric ops) and a Cutout centre. The same draws go to
every implementation that takes them. Implementations:

* ``ours``: ``dada_mm.search.batched_ops.apply_sub_policies`` on the float batch (0..255),
  forward only (no grad); ``ours fwd+bwd``: with the levels requiring grad, loss
  ``(out * w).sum()`` backward to the levels, ``magnitude_grad='straight_through'`` (the
  paper's, the hook's default) and ``'exact'`` (differentiable surrogates).
* ``ours, grid_sample warps``: the same with ``warp='grid_sample'`` (torch's
  ``affine_grid`` + nearest ``grid_sample`` for the geometric ops instead of PIL's
  fixed-point source pixels); not a peer: ``vs_grid_sample_warps`` is ours / it.
* ``kornia ops``: kornia's augmentation modules with per-sample parameters, grouped by
  (slot, op) exactly as ours (``index_select`` -> module -> ``index_copy_``): the modules
  that ``kornia.augmentation.auto`` wraps (RandomShear, RandomTranslate, RandomRotation,
  RandomAutoContrast, RandomInvert, RandomEqualize, RandomSolarize, RandomPosterize,
  RandomContrast, RandomSaturation, RandomBrightness, RandomSharpness; Cutout:
  RandomErasing, which draws its own square box per image), ``p=1``, each image's
  magnitude written into the module's parameter dictionary; nearest-neighbour warps as
  ours (bilinear for fwd+bwd, so that the magnitude gets a gradient; the magnitudes are
  tensors that require grad). ``kornia auto ops``: the same through the
  ``kornia.augmentation.auto.operations`` wrappers (``forward_parameters(shape, mag=...)``;
  they blend the output with the input by the gate).
* ``kornia AutoAugment per image``: ``kornia.augmentation.auto.AutoAugment`` with the 105
  DADA sub-policies (each op p = ``--prob``, full magnitude range, per-image magnitude
  drawn by kornia), called once per image: kornia's policy modules draw ONE sub-policy per
  call, so this is the only way to get a sub-policy per image from them.
  ``kornia AutoAugment per batch`` (one call, one sub-policy for the whole batch) is
  printed for reference only: it is not the same work and is not a peer in the ratios.
* ``torchvision v2``: ``torchvision.transforms.v2.functional`` applied per image on uint8
  tensors on the device (each image its own parameters), results stacked.

Images/s = batch / median time over ``--repeats`` interleaved rounds (each round times
every implementation once, so a load spike hits a round, not one implementation); the
spread (min..max) is printed. Ratios: ours / peer. A peer that is not installed is skipped
with a message (kornia: ``pip install -r requirements/benchmarks.txt``). Last line:
``key=value`` pairs (images/s and ratios; keys of skipped peers are left out).
"""
import argparse
import math
import os
import os.path as osp
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402

from dada_mm.search.batched_ops import apply_sub_policies  # noqa: E402
from dada_mm.search_space import OPS, SUB_POLICY_OP_INDICES  # noqa: E402
from dada_mm.search_space.ops import CUTOUT_FILL_RGB, ops_of_kind  # noqa: E402

#: indices of the warps (nearest / bilinear resampling is set on their kornia modules)
GEOMETRIC = tuple(op.index for op in ops_of_kind('geometric'))


# ------------------------------------------------------------------------------ workload
def make_images(b: int, size: int, device: str, seed: int) -> torch.Tensor:
    """uint8 [B, 3, H, W]: smooth random colour fields plus noise (not flat, not pure
    noise, so that Equalize / AutoContrast see ordinary histograms)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(b, 3, 8, 8, generator=g) * 255
    img = torch.nn.functional.interpolate(low, size=(size, size), mode='bilinear',
                                          align_corners=False)
    img = img + torch.randn(b, 3, size, size, generator=g) * 12
    return img.clamp(0, 255).round().to(torch.uint8).to(device)


def draw(b: int, prob: float, device: str, seed: int) -> Dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed + 1)
    pairs = torch.tensor(SUB_POLICY_OP_INDICES)
    sub = torch.randint(0, len(pairs), (b,), generator=g)
    d = dict(ops=pairs[sub], apply=(torch.rand(b, 2, generator=g) < prob).float(),
             levels=torch.rand(b, 2, generator=g),
             signs=torch.where(torch.rand(b, 2, generator=g) < 0.5, -1.0, 1.0),
             centers=torch.rand(b, 2, 2, generator=g))
    return {k: v.to(device) for k, v in d.items()}


def op_values(k: int, levels: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """Signed op parameter of each level (as ``OpSpec.value``, sign for geometric ops)."""
    spec = OPS[k]
    v = levels.clamp(0, 1) * (spec.high - spec.low) + spec.low
    return v * signs if spec.random_sign else v


# ----------------------------------------------------------------------------------- ours
def run_ours(images: torch.Tensor, d, grad_mode: Optional[str], weight=None,
             warp: str = 'pil'):
    if grad_mode is None:
        with torch.no_grad():
            return apply_sub_policies(images, d['ops'], d['apply'], d['levels'], d['signs'],
                                      d['centers'], warp=warp)
    levels = d['levels'].clone().requires_grad_(True)
    out = apply_sub_policies(images, d['ops'], d['apply'], levels, d['signs'], d['centers'],
                             magnitude_grad=grad_mode)
    (out * weight).sum().backward()
    return levels.grad


# --------------------------------------------------------------------------------- kornia
def kornia_version() -> Optional[str]:
    try:
        import kornia
    except ImportError:
        return None
    return kornia.__version__


class KorniaOps:
    """kornia's per-sample augmentation modules, dispatched per (slot, op) like ours.

    ``wrapped=False``: the ``kornia.augmentation`` modules, called with a parameter
    dictionary from their own ``forward_parameters`` in which each image's magnitude is
    written; ``wrapped=True``: the ``kornia.augmentation.auto.operations`` wrappers of the
    same modules, called with ``forward_parameters(shape, mag=...)``.
    """

    def __init__(self, nearest: bool, wrapped: bool, prob: float = 1.0,
                 symmetric: bool = False, device='cpu'):
        import kornia.augmentation as K
        import kornia.augmentation.auto.operations as O
        from kornia.constants import Resample
        rng = lambda k: (OPS[k].low, OPS[k].high)  # noqa: E731
        geo = dict(initial_probability=prob, symmetric_megnitude=symmetric)
        half = (lambda k: (0.0, OPS[k].high)) if symmetric else rng
        self.mods = [
            O.ShearX(None, magnitude_range=half(0), **geo),
            O.ShearY(None, magnitude_range=half(1), **geo),
            O.TranslateX(None, magnitude_range=half(2), **geo),
            O.TranslateY(None, magnitude_range=half(3), **geo),
            O.Rotate(None, magnitude_range=half(4), **geo),
            O.AutoContrast(prob), O.Invert(prob), O.Equalize(prob),
            O.Solarize(None, prob, magnitude_range=(0.0, 1.0)),
            O.Posterize(None, prob, magnitude_range=rng(9)),
            O.Contrast(None, prob, magnitude_range=rng(10)),
            O.Saturate(None, prob, magnitude_range=rng(11)),
            O.Brightness(None, prob, magnitude_range=rng(12)),
            O.Sharpness(None, prob, magnitude_range=rng(13)),
            # Cutout: a square of side U(0, 0.2) W (area fraction U-ish(0, 0.04)), grey
            O.OperationBase(K.RandomErasing(scale=(1e-4, 0.04), ratio=(1.0, 1.0),
                                            value=0.5, p=prob)),
        ]
        for k in GEOMETRIC:
            self.mods[k].op.flags['resample'] = Resample.get(
                'nearest' if nearest else 'bilinear')
        for m in self.mods:  # kornia draws its random parameters on the module's device
            m.to(device)
        self.wrapped = wrapped

    @staticmethod
    def magnitude(k: int, levels: torch.Tensor, signs: torch.Tensor, size: int):
        """Each image's parameter in kornia's convention (None: the op has none)."""
        v = op_values(k, levels, signs)
        if k in (0, 1):   # shear factor -> angle; the wrapper maps fractions x 180 to degrees
            return torch.rad2deg(torch.atan(v)) / 180.0
        if k in (2, 3):   # fraction of the size -> pixels
            return v * size
        if k == 4:
            return v
        if k == 8:        # threshold on the [0, 1] scale
            return (v / 256.0).clamp(0, 1)
        if k == 9:        # bits
            return torch.floor(v).long()
        if k in (10, 11, 12, 13):
            return v
        return None

    @staticmethod
    def _on(params: dict, device) -> dict:
        # kornia 0.9 keeps some parameters on the CPU whatever its rng device
        # (``forward_input_shape``, some generators' internals: kornia issue #4426); its own
        # forward moves them, explicitly passed ones must be moved by the caller
        return {k: v.to(device) if torch.is_tensor(v) else v for k, v in params.items()}

    def apply_op(self, k: int, x: torch.Tensor, mag: Optional[torch.Tensor]):
        mod = self.mods[k]
        if self.wrapped:
            return mod(x, self._on(mod.forward_parameters(x.shape, mag=mag), x.device))
        params = mod.op.forward_parameters(x.shape)
        if mag is not None:
            params[mod._factor_name] = mod._magnitude_fn(mag.to(
                params[mod._factor_name].dtype) if k == 9 else mag)
        return mod.op(x, params=self._on(params, x.device))

    def __call__(self, images: torch.Tensor, d, levels: torch.Tensor) -> torch.Tensor:
        x = images.clone()
        size = images.shape[-1]
        for j in range(2):
            for k in range(len(OPS)):
                idx = torch.nonzero((d['apply'][:, j] > 0.5) & (d['ops'][:, j] == k)).view(-1)
                if idx.numel() == 0:
                    continue
                mag = self.magnitude(k, levels[:, j].index_select(0, idx),
                                     d['signs'][:, j].index_select(0, idx), size)
                x.index_copy_(0, idx, self.apply_op(k, x.index_select(0, idx), mag))
        return x


def run_kornia(kops: KorniaOps, images: torch.Tensor, d, backward: bool, weight=None):
    if not backward:
        with torch.no_grad():
            return kops(images, d, d['levels'])
    levels = d['levels'].clone().requires_grad_(True)
    out = kops(images, d, levels)
    (out * weight).sum().backward()
    return levels.grad


def kornia_autoaugment(prob: float, device):
    """kornia's AutoAugment over the 105 DADA sub-policies (op p = ``prob``, magnitudes
    drawn per image by kornia over each op's full range, random sign for geometric ops)."""
    from kornia.augmentation.auto import AutoAugment
    from kornia.augmentation.auto.operations.policy import PolicySequential
    ops = KorniaOps(nearest=True, wrapped=True, prob=prob, symmetric=True, device=device).mods

    class DADAPolicies(AutoAugment):
        def compose_subpolicy_sequential(self, subpolicy):
            return PolicySequential(*[ops[k] for k, _, _ in subpolicy])

    return DADAPolicies([[(a, prob, None), (b, prob, None)]
                         for a, b in SUB_POLICY_OP_INDICES]).to(device)


# ------------------------------------------------------------------------ torchvision v2
def torchvision_v2_ops():
    import torchvision.transforms.v2.functional as TF
    from torchvision.transforms import InterpolationMode
    nearest = InterpolationMode.NEAREST

    def shear(img, v, axis):
        deg = math.degrees(math.atan(v))
        return TF.affine(img, angle=0.0, translate=[0, 0], scale=1.0,
                         shear=[deg, 0.0] if axis == 0 else [0.0, deg],
                         interpolation=nearest, fill=0)

    def translate(img, v, axis):
        w = img.shape[-1]
        t = [round(v * w), 0] if axis == 0 else [0, round(v * w)]
        return TF.affine(img, angle=0.0, translate=t, scale=1.0, shear=[0.0, 0.0],
                         interpolation=nearest, fill=0)

    fill = torch.tensor(CUTOUT_FILL_RGB[::-1], dtype=torch.uint8).view(3, 1, 1)

    def cutout(img, v, center):
        h, w = img.shape[-2:]
        side = int(v * w)
        if side <= 0:
            return img
        x0 = max(0, int(center[0] * w - side / 2))
        y0 = max(0, int(center[1] * h - side / 2))
        return TF.erase(img, y0, x0, min(side, h - y0), min(side, w - x0),
                        fill.to(img.device))

    return [
        lambda img, v, c: shear(img, v, 0), lambda img, v, c: shear(img, v, 1),
        lambda img, v, c: translate(img, v, 0), lambda img, v, c: translate(img, v, 1),
        lambda img, v, c: TF.rotate(img, v, interpolation=nearest, fill=0),
        lambda img, v, c: TF.autocontrast(img), lambda img, v, c: TF.invert(img),
        lambda img, v, c: TF.equalize(img),
        lambda img, v, c: TF.solarize(img, min(255.0, v)),
        lambda img, v, c: TF.posterize(img, int(v)),
        lambda img, v, c: TF.adjust_contrast(img, v),
        lambda img, v, c: TF.adjust_saturation(img, v),
        lambda img, v, c: TF.adjust_brightness(img, v),
        lambda img, v, c: TF.adjust_sharpness(img, v),
        cutout,
    ]


def torchvision_plan(d) -> List[List[tuple]]:
    """Per image, the applied (op, value, centre) in slot order, as Python numbers."""
    ops, apply = d['ops'].tolist(), d['apply'].tolist()
    centers = d['centers'].tolist()
    vals = [[op_values(k, d['levels'][:, j], d['signs'][:, j]).tolist()
             for k in range(len(OPS))] for j in range(2)]
    return [[(ops[i][j], vals[j][ops[i][j]][i], centers[i][j]) for j in range(2)
             if apply[i][j] > 0.5] for i in range(len(ops))]


def run_torchvision(fns, images_u8: torch.Tensor, plan) -> torch.Tensor:
    out = []
    for i, steps in enumerate(plan):
        img = images_u8[i]
        for k, v, c in steps:
            img = fns[k](img, v, c)
        out.append(img)
    return torch.stack(out)


# ---------------------------------------------------------------------------------- timing
def sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def time_once(fn: Callable, device: str) -> float:
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def per_op(args, images, images01, images_u8, with_kornia: bool):
    """Each op alone on the whole batch (level U[0, 1] per image): median ms per image."""
    from dada_mm.search.batched_ops import apply_op_batch
    dev, b = args.device, images.shape[0]
    g = torch.Generator().manual_seed(args.seed + 2)
    lv = torch.rand(b, generator=g).to(dev)
    sg = torch.where(torch.rand(b, generator=g) < 0.5, -1.0, 1.0).to(dev)
    ct = torch.rand(b, 2, generator=g).to(dev)
    fns = torchvision_v2_ops()
    kops = KorniaOps(nearest=True, wrapped=False, device=dev) if with_kornia else None
    print(f'{"op":>13} {"ours":>8} {"grid":>8} {"kornia":>8} {"tv2":>8}  ms/image; ours / '
          'tv2 speed; grid: ours with warp=grid_sample')
    pairs = {}
    for k, spec in enumerate(OPS):
        vals, cs = op_values(k, lv, sg).tolist(), ct.tolist()
        fn = {'ours': lambda k=k: apply_op_batch(images, k, lv, signs=sg, centers=ct),
              'tv2': lambda k=k, vals=vals, cs=cs: torch.stack(
                  [fns[k](images_u8[i], vals[i], cs[i]) for i in range(b)])}
        if k in GEOMETRIC:
            fn['grid'] = lambda k=k: apply_op_batch(images, k, lv, signs=sg, centers=ct,
                                                    warp='grid_sample')
        if kops is not None:
            mag = kops.magnitude(k, lv, sg, images.shape[-1])
            fn['kornia'] = lambda k=k, mag=mag: kops.apply_op(k, images01, mag)
        t = {}
        with torch.no_grad():
            for name, f in fn.items():
                for _ in range(args.warmup):
                    f()
                t[name] = statistics.median(time_once(f, dev) for _ in range(args.repeats))
        ms = {n: v / b * 1e3 for n, v in t.items()}
        kor = f'{ms["kornia"]:8.3f}' if 'kornia' in ms else f'{"-":>8}'
        grid = f'{ms["grid"]:8.3f}' if k in GEOMETRIC else f'{"-":>8}'
        print(f'{spec.name:>13} {ms["ours"]:8.3f} {grid} {kor} {ms["tv2"]:8.3f}  '
              f'{t["tv2"] / t["ours"]:.2f}')
        pairs[f'{spec.name}_vs_torchvision_v2'] = t['tv2'] / t['ours']
        if k in GEOMETRIC:
            pairs[f'{spec.name}_vs_grid_sample'] = t['grid'] / t['ours']
    print(' '.join(f'{k}={v:.2f}' for k, v in pairs.items()))
    return pairs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--prob', type=float, default=0.5,
                        help='on/off probability of each slot (0.5: the search start)')
    parser.add_argument('--repeats', type=int, default=5, help='interleaved timed rounds')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=-1,
                        help='torch intra-op threads (-1: 1 on CPU, as every peer then '
                        'runs; 0: leave as is)')
    parser.add_argument('--peers', nargs='*', default=['kornia', 'torchvision'],
                        choices=['kornia', 'torchvision'])
    parser.add_argument('--no-backward', action='store_true',
                        help='skip the forward+backward measurements')
    parser.add_argument('--per-op', action='store_true',
                        help='instead: each op alone on the whole batch, ms per image for '
                        'ours, kornia ops and torchvision v2 (where the time goes)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    dev = args.device
    threads = args.threads if args.threads >= 0 else (1 if dev == 'cpu' else 0)
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(args.seed)  # kornia's own draws (AutoAugment, RandomErasing)
    b, size = args.batch_size, args.size
    import torchvision
    kv = kornia_version()
    name = torch.cuda.get_device_name(dev) if dev.startswith('cuda') else 'cpu'
    print(f'batched ops: batch {b} at {size}x{size}, slot p {args.prob}, device {dev} '
          f'({name}), torch {torch.__version__} ({torch.get_num_threads()} threads), '
          f'torchvision {torchvision.__version__}, kornia {kv or "not installed"}, load '
          f'average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, '
          f'THP_MEM_ALLOC_ENABLE={os.environ.get("THP_MEM_ALLOC_ENABLE", "unset")}')

    images_u8 = make_images(b, size, dev, args.seed)
    images = images_u8.float()
    images01 = images / 255.0
    d = draw(b, args.prob, dev, args.seed)
    weight = torch.randn(images.shape, generator=torch.Generator().manual_seed(7)).to(dev)
    backward = not args.no_backward
    if args.per_op:
        return per_op(args, images, images01, images_u8, kv is not None)

    # name -> (callable, kind); kind: 'fwd' peers/ours, 'bwd', or 'ref' (not a peer)
    impls: Dict[str, tuple] = {'ours': (lambda: run_ours(images, d, None), 'fwd')}
    impls['ours, grid_sample warps'] = (
        lambda: run_ours(images, d, None, warp='grid_sample'), 'variant')
    if backward:
        impls['ours fwd+bwd straight-through'] = (
            lambda: run_ours(images, d, 'straight_through', weight), 'bwd-ours')
        impls['ours fwd+bwd exact'] = (lambda: run_ours(images, d, 'exact', weight),
                                       'bwd-ours')
    skipped = {}
    if 'kornia' in args.peers:
        if kv is None:
            skipped['kornia'] = ('not installed (pip install -r requirements/'
                                 'benchmarks.txt)')
            print(f'kornia: skipped, {skipped["kornia"]}')
        else:
            kops = KorniaOps(nearest=True, wrapped=False, device=dev)
            kwrap = KorniaOps(nearest=True, wrapped=True, device=dev)
            aa = kornia_autoaugment(args.prob, dev)
            impls['kornia ops'] = (lambda: run_kornia(kops, images01, d, False), 'fwd')
            impls['kornia auto ops'] = (lambda: run_kornia(kwrap, images01, d, False),
                                        'fwd')

            def aa_per_image():
                with torch.no_grad():
                    return torch.cat([aa(images01[i:i + 1]) for i in range(b)])

            def aa_per_batch():
                with torch.no_grad():
                    return aa(images01)

            impls['kornia AutoAugment per image'] = (aa_per_image, 'fwd')
            impls['kornia AutoAugment per batch (1 sub-policy/batch)'] = (aa_per_batch,
                                                                          'ref')
            if backward:
                kbil = KorniaOps(nearest=False, wrapped=False, device=dev)
                impls['kornia ops fwd+bwd'] = (
                    lambda: run_kornia(kbil, images01, d, True, weight), 'bwd')
    if 'torchvision' in args.peers:
        fns, plan = torchvision_v2_ops(), torchvision_plan(d)
        impls['torchvision v2 per image'] = (
            lambda: run_torchvision(fns, images_u8, plan), 'fwd')

    for i in range(max(1, args.warmup)):
        for name, (fn, _kind) in list(impls.items()):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - a peer that breaks here is reported
                if i or name.startswith('ours'):
                    raise
                skipped[name] = f'failed: {type(e).__name__}: {str(e)[:200]}'
                print(f'{name}: skipped, {skipped[name]}')
                del impls[name]
    times: Dict[str, List[float]] = {k: [] for k in impls}
    for _ in range(args.repeats):
        for k, (fn, _kind) in impls.items():
            times[k].append(time_once(fn, dev))

    rate = {k: b / statistics.median(t) for k, t in times.items()}
    print(f'{"implementation":<52} {"images/s":>10} {"spread (min..max)":>20}')
    for k, t in times.items():
        print(f'{k:<52} {rate[k]:10.0f} {b / max(t):9.0f}..{b / min(t):<9.0f}')

    pairs = {'ours_images_per_s': rate['ours'],
             'grid_sample_warps_images_per_s': rate['ours, grid_sample warps'],
             'vs_grid_sample_warps': rate['ours'] / rate['ours, grid_sample warps']}
    fwd_peers = {k: rate[k] for k, (_, kind) in impls.items() if kind == 'fwd'
                 and k != 'ours'}
    kornia_fwd = {k: v for k, v in fwd_peers.items() if k.startswith('kornia')}
    if kornia_fwd:
        best_k = max(kornia_fwd, key=kornia_fwd.get)
        pairs['kornia_images_per_s'] = kornia_fwd[best_k]
        pairs['vs_kornia'] = rate['ours'] / kornia_fwd[best_k]
        print(f'best kornia (same work): {best_k}')
    if 'torchvision v2 per image' in rate:
        pairs['torchvision_v2_images_per_s'] = rate['torchvision v2 per image']
        pairs['vs_torchvision_v2'] = rate['ours'] / rate['torchvision v2 per image']
    if fwd_peers:
        best = max(fwd_peers, key=fwd_peers.get)
        pairs['vs_best_peer'] = rate['ours'] / fwd_peers[best]
        print(f'forward: ours / best peer ({best}) = {pairs["vs_best_peer"]:.2f}')
    ref = 'kornia AutoAugment per batch (1 sub-policy/batch)'
    if ref in rate:
        pairs['vs_kornia_autoaugment_per_batch'] = rate['ours'] / rate[ref]
    if backward:
        pairs['ours_fwd_bwd_st_images_per_s'] = rate['ours fwd+bwd straight-through']
        pairs['ours_fwd_bwd_exact_images_per_s'] = rate['ours fwd+bwd exact']
        if 'kornia ops fwd+bwd' in rate:
            kb = rate['kornia ops fwd+bwd']
            pairs['kornia_fwd_bwd_images_per_s'] = kb
            pairs['vs_kornia_fwd_bwd_exact'] = rate['ours fwd+bwd exact'] / kb
            pairs['vs_kornia_fwd_bwd_st'] = rate['ours fwd+bwd straight-through'] / kb
            print(f'forward+backward: ours exact / kornia = '
                  f'{pairs["vs_kornia_fwd_bwd_exact"]:.2f}, ours straight-through / '
                  f'kornia = {pairs["vs_kornia_fwd_bwd_st"]:.2f} (torchvision v2 has no '
                  f'gradient to the magnitudes)')
    print(' '.join(f'{k}={v:.0f}' if k.endswith('_per_s') else f'{k}={v:.2f}'
                   for k, v in pairs.items()))
    return pairs


if __name__ == '__main__':
    main()
