"""Policy quality: does the search find a better policy than the one it starts from?

On a real image set that ships inside a registry package (scikit-learn's handwritten
digits, 32x32; ``dada_mm/datasets/digits.py``), for each seed:

1. **search**: ``DADASearchHook`` on the search-train half, the policy optimised for the
   search-val half, through an mmengine ``Runner`` exactly as ``tools/train.py`` runs it;
2. **retrain** a fresh network from scratch on the whole training set with each arm's
   augmentation, and test it on the held-out test set:

   * ``none``: the crop only (RandomCrop 32, padding 2; no flip: it changes digits);
   * ``start``: the search's starting point (all 105 sub-policies, p = m = 0.5);
   * ``trivialaugment``: the parameter-free bar: one op per image, drawn uniformly, at a
     uniformly drawn strength (TrivialAugment's sampling), as mmpretrain's RandAugment
     with ``num_policies=1`` and ``magnitude_std='inf'`` over its ``timm_increasing`` ops
     and ranges (torchvision's ``TrivialAugmentWide`` is not an mmpretrain transform);
   * ``randaugment``: mmpretrain's RandAugment (timm_increasing, 2 ops, magnitude 9,
     std 0.5: rand-m9-mstd0.5);
   * ``dada-cifar10``: the paper's published CIFAR-10 policy;
   * ``searched``: the search's policy file (its top 25 unless ``top_k`` is in the hook
     options);
   * ``unweighted``: the search's policy file with its sub-policies drawn with equal
     chance (``DADAAugment(weighted=False)``): the control for the selection weights a
     search with ``learner=dict(export_weighting='selection')`` writes to the file (with
     ``'uniform'`` it is the ``searched`` arm);
   * ``random25``: 25 sub-policies of that file drawn at random (seeded by the run's
     seed), with their learnt p and levels: the control for the search's ranking (the file
     must hold more than 25: ``--hook-options '{"top_k": 105}'``);
   * ``op`` (planted variants only): the op that undoes the shift, alone, at the shift's
     level with p = 0.5: what the right answer is worth, the reference a search is
     measured against.

Variants (``--variants``): ``natural`` (clean images everywhere) and the planted shifts
``invert`` / ``contrast`` / ``dark`` / ``solarize`` / ``rotate`` / ``shear`` /
``translate`` (``dada_mm/datasets/digits.py``): the search-val and test images carry a
corruption that the training images lack and that one op reproduces (Invert; Contrast or
Brightness at level 0.111; Solarize at 0.5; Rotate, ShearX or TranslateY with sign +1);
and, to check that what these show holds for shifts the settings were not chosen on,
``bright`` / ``blur`` / ``translate_x`` / ``shear_y`` (Brightness at 1, Sharpness at 0,
TranslateX at 0.722, ShearY at 0.833; named in ``--variants``, not run by default).
There the search should rank the sub-policies holding that op first, move its
probability up and its level towards the shift's (:func:`planted_found`), and the
retrained network should beat ``none`` on the shifted test set.

Prints one table row per (variant, arm) with mean and standard deviation over seeds,
the policy statistics of the undoing op, and the search cost; writes everything to
``--out`` (JSON). Last line: ``key=value`` pairs (accuracy gains of ``searched`` in points
of top-1 accuracy, and how many seeds found the planted op).
"""
import argparse
import json
import os.path as osp
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # (benchmarks/provenance.py)

ARMS = ('none', 'start', 'trivialaugment', 'randaugment', 'dada-cifar10', 'searched',
        'random25', 'unweighted', 'op')
#: arms that retrain with the search's policy file
SEARCH_ARMS = ('searched', 'random25', 'unweighted')
#: how many sub-policies the 'random25' arm draws
RANDOM_SUBSET = 25
PLANTED_ARMS = ('none', 'searched', 'unweighted', 'op')
#: arms that exist only where a shift is planted
PLANTED_ONLY_ARMS = ('op', )
MAIN_VARIANTS = ('natural', 'invert', 'contrast', 'dark', 'solarize', 'rotate', 'shear',
                 'translate')
#: planted shifts the benchmark's settings were not chosen on: a check that what the main
#: variants show holds for other shifts (``--variants`` names them; not run by default)
CHECK_VARIANTS = ('bright', 'blur', 'translate_x', 'shear_y')
VARIANTS = MAIN_VARIANTS + CHECK_VARIANTS
MEAN, STD = [127.5] * 3, [64.0] * 3


def model_cfg(width: int) -> Dict:
    """A CIFAR-style ResNet-18 (3x3 stem, no max-pool) of base width ``width``."""
    return dict(
        type='ImageClassifier',
        data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=10, mean=MEAN,
                               std=STD, to_rgb=True),
        backbone=dict(type='ResNet_CIFAR', depth=18, num_stages=4, out_indices=(3, ),
                      base_channels=width, stem_channels=width, style='pytorch'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=width * 8,
                  loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, )))


def loader(root: str, ann: str, prefix: str, pipeline: List[Dict], batch: int,
           shuffle: bool) -> Dict:
    return dict(batch_size=batch, num_workers=0, persistent_workers=False,
                sampler=dict(type='DefaultSampler', shuffle=shuffle),
                dataset=dict(type='CustomDataset', data_root=root, data_prefix=prefix,
                             ann_file=f'meta/{ann}.txt', with_label=True,
                             pipeline=pipeline))


def base_cfg(args, work_dir: str, seed: int, epochs: int, lr: float) -> Dict:
    tag = uuid.uuid4().hex[:8]
    return dict(
        default_scope='mmpretrain',
        custom_imports=dict(imports=['dada_mm'], allow_failed_imports=False),
        work_dir=work_dir, experiment_name=f'bench_policy_{tag}',
        model=model_cfg(args.width),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=lr, momentum=0.9,
                                          weight_decay=5e-4, nesterov=True)),
        param_scheduler=dict(type='CosineAnnealingLR', T_max=epochs, by_epoch=True,
                             eta_min=lr * 0.01),
        train_cfg=dict(by_epoch=True, max_epochs=epochs),
        default_hooks=dict(timer=dict(type='IterTimerHook'),
                           logger=dict(type='LoggerHook', interval=10 ** 6),
                           param_scheduler=dict(type='ParamSchedulerHook'),
                           checkpoint=None,
                           sampler_seed=dict(type='DistSamplerSeedHook')),
        env_cfg=dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo')),
        visualizer=dict(type='UniversalVisualizer', name=f'vis_{tag}', vis_backends=[]),
        log_level='WARNING',
        randomness=dict(seed=seed, deterministic=False),
    )


def crop(size: int = 32):
    return [dict(type='LoadImageFromFile'),
            dict(type='RandomCrop', crop_size=size, padding=max(1, size // 16),
                 padding_mode='constant', pad_val=0)]


TEST_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]


def search_cfg(args, root: str, variant: str, seed: int, work_dir: str) -> Dict:
    cfg = base_cfg(args, work_dir, seed, args.search_epochs, args.lr)
    val_prefix = 'clean' if variant == 'natural' else variant
    hook = dict(type='DADASearchHook', top_k=25,
                val_dataloader=loader(root, 'search_val', val_prefix, TEST_PIPELINE,
                                      getattr(args, 'val_batch_size', 0) or args.batch_size,
                                      True))
    hook.update(args.hook_options)
    cfg.update(train_dataloader=loader(root, 'search_train', 'clean',
                                       crop(args.size) + [dict(type='PackInputs')],
                                       args.batch_size, True),
               custom_hooks=[hook])
    return cfg


def undoing_op_policy(variant: str, shift_ops: Optional[Dict] = None) -> List[List[Dict]]:
    """The ``op`` arm's policy: the op that undoes ``variant``'s shift at the shift's level,
    applied with p = 0.5 (its second slot never applies). ``shift_ops``: variant -> (op,
    level or None), the digits' planted shifts by default."""
    if shift_ops is None:
        from dada_mm.datasets.digits import SHIFT_OPS as shift_ops
    if variant not in shift_ops:
        raise ValueError(f"arm 'op' needs a planted variant ({sorted(shift_ops)}), got "
                         f'{variant!r}')
    op, level = shift_ops[variant]
    level = 0.5 if level is None else level
    return [[dict(op=op, prob=0.5, magnitude=level), dict(op=op, prob=0.0, magnitude=level)]]


def search_init(hook_options: Optional[Dict] = None) -> Dict:
    """The ``init`` (starting alpha, p and levels) of the search that ``hook_options``
    configure: its preset's, with the deprecated flat ``init`` and then any
    ``learner.init`` keys over it."""
    import warnings

    from dada_mm.search.presets import resolve_settings
    opts = dict(hook_options or {})
    preset = opts.get('preset', 'paper' if opts.get('type') == 'PaperDADASearchHook'
                      else 'default')
    flat = {'init': opts['init']} if isinstance(opts.get('init'), dict) else None
    with warnings.catch_warnings():  # (the flat keyword's deprecation: the hook warns)
        warnings.simplefilter('ignore', DeprecationWarning)
        settings = resolve_settings('bench_policy', preset, flat=flat)
    init = dict(settings['learner']['init'])
    init.update((opts.get('learner') or {}).get('init') or {})
    return init


def start_policy(hook_options: Optional[Dict] = None) -> List[List[Dict]]:
    """The ``start`` arm: all 105 sub-policies at the search's initial p and levels."""
    from dada_mm.search.learner import initial_magnitudes
    from dada_mm.search_space import SUB_POLICIES
    init = search_init(hook_options)
    levels = initial_magnitudes(init)
    prob = float(init.get('prob', 0.5))
    return [[dict(op=op, prob=prob, magnitude=float(levels[k, j]))
             for j, op in enumerate(pair)] for k, pair in enumerate(SUB_POLICIES)]


def arm_transforms(arm: str, policy_file: Optional[str], variant: str = 'natural',
                   hook_options: Optional[Dict] = None) -> List[Dict]:
    if arm == 'none':
        return []
    if arm == 'start':
        return [dict(type='DADAAugment', policy=start_policy(hook_options))]
    if arm == 'trivialaugment':
        return [dict(type='RandAugment', policies='timm_increasing', num_policies=1,
                     total_level=10, magnitude_level=10, magnitude_std='inf',
                     hparams=dict(pad_val=0, interpolation='bicubic'))]
    if arm == 'randaugment':
        return [dict(type='RandAugment', policies='timm_increasing', num_policies=2,
                     total_level=10, magnitude_level=9, magnitude_std=0.5,
                     hparams=dict(pad_val=0, interpolation='bicubic'))]
    if arm == 'dada-cifar10':
        return [dict(type='DADAAugment', policy='dada-cifar10')]
    if arm == 'unweighted':
        return [dict(type='DADAAugment', policy=policy_file, weighted=False)]
    if arm in SEARCH_ARMS:  # every sub-policy of the file: the hook's top_k (25 by default);
        # 'random25' swaps in its subset when it runs (run_retrain), once the file exists
        return [dict(type='DADAAugment', policy=policy_file)]
    if arm == 'op':
        return [dict(type='DADAAugment', policy=undoing_op_policy(variant))]
    raise ValueError(f'unknown arm {arm!r}; choose from {list(ARMS)}')


def retrain_cfg(args, root: str, variant: str, seed: int, arm: str, work_dir: str,
                policy_file: Optional[str]) -> Dict:
    cfg = base_cfg(args, work_dir, seed, args.retrain_epochs, args.lr)
    test_prefix = 'clean' if variant == 'natural' else variant
    pipeline = (crop(args.size) + arm_transforms(arm, policy_file, variant,
                                                 args.hook_options)
                + [dict(type='PackInputs')])
    cfg.update(train_dataloader=loader(root, 'train', 'clean', pipeline, args.batch_size,
                                       True),
               test_dataloader=loader(root, 'test', test_prefix, TEST_PIPELINE, 200, False),
               test_evaluator=dict(type='Accuracy', topk=(1, )), test_cfg=dict())
    return cfg


def undo_op_summary(policy, op: str, init: Optional[Dict] = None,
                    space=None) -> Dict[str, float]:
    """How the search treats the op that reproduces the planted shift; ``init`` is the
    search's (:func:`search_init`), for the op's starting level; ``space`` its search
    space (None: DADA's 105 sub-policies)."""
    import torch

    from dada_mm.search.learner import initial_magnitudes
    from dada_mm.search_space import DADA_SEARCH_SPACE
    space = DADA_SEARCH_SPACE if space is None else space
    space.index_of(op)  # an op the space lacks is named, with the space's ops
    sub_policies = space.sub_policies
    start = initial_magnitudes(init, space)
    holds = torch.tensor([op in sub for sub in sub_policies])
    slot = torch.tensor([[a == op, b == op] for a, b in sub_policies])
    sel = policy.selection_probs().detach().cpu()
    top = [i for i, _, _ in policy.top_k(25)]
    probs = policy.probs.detach().clamp(0, 1).cpu()
    mags = policy.magnitudes.detach().clamp(0, 1).cpu()
    return dict(op=op,
                selection_ratio=float(sel[holds].mean() / sel[~holds].mean()),
                in_top25=int(sum(bool(holds[i]) for i in top)),
                in_top25_chance=25 * int(holds.sum()) / len(sub_policies),
                top1_holds_op=bool(holds[top[0]]),
                mean_prob=float(probs[slot].mean()),
                mean_magnitude=float(mags[slot].mean()),
                start_level=float(start[slot].mean()))


def policy_movement(policy) -> Dict[str, float]:
    sel = policy.selection_probs().detach().cpu()
    n = sel.numel()
    return dict(max_selection_vs_uniform=float(sel.max() * n),
                min_selection_vs_uniform=float(sel.min() * n),
                prob_range=[float(policy.probs.detach().min()), float(policy.probs.detach().max())],
                magnitude_range=[float(policy.magnitudes.detach().min()),
                                 float(policy.magnitudes.detach().max())])


def _worker_init(threads: int) -> None:
    import torch
    torch.set_num_threads(threads)
    try:
        import cv2
        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass


def run_search(job: Dict) -> Dict:
    from mmengine.config import Config
    from mmengine.runner import Runner

    import dada_mm  # noqa: F401
    from dada_mm.datasets.digits import SHIFT_OPS
    t0 = time.perf_counter()
    runner = Runner.from_cfg(Config(job['cfg']))
    runner.train()
    from dada_mm.search import DADASearchHook  # (or PaperDADASearchHook, a subclass)
    hook = [h for h in runner.hooks if isinstance(h, DADASearchHook)][0]
    out = dict(kind='search', variant=job['variant'], seed=job['seed'],
               seconds=time.perf_counter() - t0, updates=hook.updates,
               skipped=hook.skipped_updates,
               policy_file=osp.join(job['cfg']['work_dir'], 'dada_policy.json'),
               movement=policy_movement(hook.policy))
    if hook.learner.estimator.name == 'candidates':
        # the reward the candidates were scored by ('auto' resolved for this model)
        out['candidate_reward'] = hook.learner.estimator.reward
    out['export_weighting'] = hook.export_weighting  # how the 'searched' arm draws its file
    ops, init = dict(SHIFT_OPS), hook.learner.cfg.init
    if job['variant'] == 'natural':
        out['ops'] = {op: undo_op_summary(hook.policy, op, init) for op in ('Invert', 'Rotate')}
    else:
        op, level = ops[job['variant']]
        out['ops'] = {op: dict(undo_op_summary(hook.policy, op, init), target_level=level)}
    return out


def random_subset(policy_file: str, seed: int) -> List[List[Dict]]:
    """The ``random25`` arm's policy: :data:`RANDOM_SUBSET` sub-policies of the search's
    file, drawn without replacement by ``seed``, with their learnt p and levels."""
    import numpy as np

    from dada_mm.policy.policy_file import load_policy_file
    subs = load_policy_file(policy_file)['sub_policies']
    if len(subs) <= RANDOM_SUBSET:
        raise ValueError(f"arm 'random25' draws {RANDOM_SUBSET} of the search's sub-policies, "
                         f'but {policy_file} holds {len(subs)}: export more with '
                         '--hook-options \'{"top_k": 105}\'')
    pick = sorted(np.random.default_rng(seed).choice(len(subs), RANDOM_SUBSET, replace=False))
    return [subs[int(i)] for i in pick]


def run_retrain(job: Dict) -> Dict:
    from mmengine.config import Config
    from mmengine.runner import Runner

    import dada_mm  # noqa: F401
    t0 = time.perf_counter()
    if job['arm'] == 'random25':
        for t in job['cfg']['train_dataloader']['dataset']['pipeline']:
            if t['type'] == 'DADAAugment':
                t['policy'] = random_subset(t['policy'], job['seed'])
    runner = Runner.from_cfg(Config(job['cfg']))
    runner.train()
    metrics = runner.test()
    return dict(kind='retrain', variant=job['variant'], seed=job['seed'], arm=job['arm'],
                seconds=time.perf_counter() - t0,
                top1=float(metrics['accuracy/top1']) / 100.0)  # mmpretrain gives %


def _map(fn, jobs: List[Dict], workers: int, threads: int) -> List[Dict]:
    if workers <= 1:
        _worker_init(threads)
        return [fn(j) for j in jobs]
    import multiprocessing
    ctx = multiprocessing.get_context('spawn')
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                             initargs=(threads, )) as pool:
        return list(pool.map(fn, jobs))


def mean_std(values: List[float]):
    if not values:
        return float('nan'), float('nan')
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def level_distance(level: float, target: float, signed: bool) -> float:
    """How far a level is from the shift's; a signed op reproduces the shift at ``target``
    and at ``1 - target`` (its sign is drawn at random)."""
    d = abs(level - target)
    return min(d, abs(level - (1.0 - target))) if signed else d


def planted_found(s: Dict) -> bool:
    """The planted op is found: its sub-policies are selected more often than the rest,
    at least twice the chance count of them is in the top 25, its p went up, and where
    the shift has a level its mean m is closer to the shift's than its start level was, or
    within 0.1 of it (files without a start level started at 0.5)."""
    from dada_mm.search_space import OP_NAMES, get_detection_op, get_op
    (op, info), = s['ops'].items()
    target = info.get('target_level')
    level_ok = True
    if target is not None:
        # a DADA op, or one of the detection family's (a search over that family)
        signed = (get_op(op) if op in OP_NAMES else get_detection_op(op)).random_sign
        d = level_distance(info['mean_magnitude'], target, signed)
        d_start = level_distance(info.get('start_level', 0.5), target, signed)
        level_ok = d < d_start or d <= 0.1
    return (info['selection_ratio'] > 1.0 and info['in_top25'] >= 2 * info['in_top25_chance']
            and info['mean_prob'] > 0.5 and level_ok)


def provenance(argv) -> Dict:
    """What made a results file (``benchmarks/provenance.py``)."""
    from provenance import provenance as made_by
    return made_by('benchmarks/bench_policy.py', argv)


def report(results: List[Dict], variants, arms_of) -> Dict[str, str]:
    pairs = {}
    retrained = any(r['kind'] == 'retrain' for r in results)
    if retrained:  # (a --search-only run has no accuracy table)
        print('\n| variant | arm | top-1 % (mean ± std) | seeds | gain vs none |')
        print('|---|---|---|---|---|')
    for variant in variants if retrained else ():
        rows = [r for r in results if r['kind'] == 'retrain' and r['variant'] == variant]
        none = [100 * r['top1'] for r in rows if r['arm'] == 'none']
        for arm in arms_of(variant):
            acc = [100 * r['top1'] for r in rows if r['arm'] == arm]
            m, s = mean_std(acc)
            gain = m - mean_std(none)[0]
            print(f'| {variant} | {arm} | {m:.2f} ± {s:.2f} | {len(acc)} | {gain:+.2f} |')
        searched = mean_std([100 * r['top1'] for r in rows if r['arm'] == 'searched'])
        for ref in arms_of(variant):
            if ref == 'searched':
                continue
            other = mean_std([100 * r['top1'] for r in rows if r['arm'] == ref])
            pairs[f'{variant}_searched_vs_{ref}'] = f'{searched[0] - other[0]:+.2f}'
    print('\n| variant | seed | op | selection ratio | in top-25 (chance) | mean p | '
          'mean m | search s | updates |')
    print('|---|---|---|---|---|---|---|---|---|')
    for s in [r for r in results if r['kind'] == 'search']:
        for op, info in s['ops'].items():
            print(f"| {s['variant']} | {s['seed']} | {op} | {info['selection_ratio']:.2f} | "
                  f"{info['in_top25']} ({info['in_top25_chance']:.1f}) | "
                  f"{info['mean_prob']:.3f} | {info['mean_magnitude']:.3f} | "
                  f"{s['seconds']:.0f} | {s['updates']} |")
    for variant in variants:
        if variant == 'natural':
            continue
        runs = [r for r in results if r['kind'] == 'search' and r['variant'] == variant]
        pairs[f'{variant}_found'] = f'{sum(planted_found(r) for r in runs)}/{len(runs)}'
    return pairs


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--variants', nargs='+', default=list(MAIN_VARIANTS),
                        choices=VARIANTS)
    parser.add_argument('--arms', nargs='+', default=list(ARMS), choices=ARMS)
    parser.add_argument('--search-epochs', type=int, default=30)
    parser.add_argument('--retrain-epochs', type=int, default=30)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--val-batch-size', type=int, default=0,
                        help="the search's held-out batch size (0: --batch-size)")
    parser.add_argument('--lr', type=float, default=0.05)
    parser.add_argument('--width', type=int, default=16)
    parser.add_argument('--train-per-class', type=int, default=100)
    parser.add_argument('--size', type=int, default=32, help='image side (px)')
    parser.add_argument('--hook-options', type=json.loads, default={},
                        help='JSON dict of DADASearchHook options, e.g. '
                             '\'{"estimator": "reinforce", "reward": {"type": '
                             '"BilevelReward", "credit": "batch"}}\'; '
                             '\'{"preset": "paper"}\' searches with the '
                             "paper's settings")
    parser.add_argument('--search-only', action='store_true',
                        help='skip the retraining (policy statistics only)')
    parser.add_argument('--jobs', type=int, default=2, help='parallel runs')
    parser.add_argument('--threads', type=int, default=1, help='torch threads per run')
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--out', default=None, help='JSON file of all results')
    args = parser.parse_args(argv)
    made_by = provenance(sys.argv[1:] if argv is None else argv)  # the code as it starts

    from dada_mm.datasets.digits import make_digits_set
    work = args.work_dir or tempfile.mkdtemp(prefix='bench_policy_')
    root = osp.join(work, 'digits')
    make_digits_set(root, train_per_class=args.train_per_class, size=args.size,
                    shifts=['clean'] + [v for v in args.variants if v != 'natural'])
    t0 = time.perf_counter()

    def arms_of(variant):
        chosen = ([a for a in args.arms if a not in PLANTED_ONLY_ARMS]
                  if variant == 'natural' else PLANTED_ARMS)
        return [a for a in chosen if a in args.arms]

    needs_search = args.search_only or any(a in SEARCH_ARMS for v in args.variants
                                           for a in arms_of(v))
    search_jobs = [dict(variant=v, seed=s,
                        cfg=search_cfg(args, root, v, s, osp.join(work, f'search_{v}_{s}')))
                   for v in args.variants for s in args.seeds] if needs_search else []
    results = _map(run_search, search_jobs, args.jobs, args.threads)
    policy_of = {(r['variant'], r['seed']): r['policy_file'] for r in results}
    if not args.search_only:
        retrain_jobs = [
            dict(variant=v, seed=s, arm=a,
                 cfg=retrain_cfg(args, root, v, s, a, osp.join(work, f'retrain_{v}_{a}_{s}'),
                                 policy_of.get((v, s))))
            for v in args.variants for a in arms_of(v) for s in args.seeds]
        results += _map(run_retrain, retrain_jobs, args.jobs, args.threads)
    pairs = report(results, args.variants, arms_of)
    searches = [r for r in results if r['kind'] == 'search']
    retrains = [r for r in results if r['kind'] == 'retrain' and r['arm'] == 'none']
    if searches and retrains:
        ratio = mean_std([r['seconds'] for r in searches])[0] / mean_std(
            [r['seconds'] for r in retrains])[0]
        print(f'\nsearch cost: {mean_std([r["seconds"] for r in searches])[0]:.0f} s per '
              f'search ({args.search_epochs} epochs on half the data) = {ratio:.2f}x one '
              f'plain retraining ({args.retrain_epochs} epochs on all of it)')
    print(f'total wall time {time.perf_counter() - t0:.0f} s with {args.jobs} job(s)')
    if args.out:
        from provenance import write_results
        write_results(args.out, made_by, args, results=results)
    print(' '.join(f'{k}={v}' for k, v in pairs.items()))
    return dict(results=results, pairs=pairs)


if __name__ == '__main__':
    main()
