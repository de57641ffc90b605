"""Policy quality on a detector: does the search inside a detector's training find a policy
that helps it?

On the built-in detection set (``dada_mm/datasets/synthetic.py``: shapes on textured
backgrounds, COCO format), for each seed:

1. **search**: the demo's small RetinaNet (``configs/demo/demo_retinanet_shapes.py``, no
   pretrained backbone) trains on the training images with ``DADASearchHook`` (candidate
   scoring on the detector's own loss), the policy optimised for a held-out part of the
   training images;
2. **retrain** a fresh detector on all training images with each arm's policy in the
   pipeline (``DADAAugment``, then ``FilterAnnotations``) and test it on the test images:
   ``none``, ``searched`` (the search's top-25 file), ``dada-imagenet`` (the paper's
   ImageNet policy), ``zoph-det-v0`` (Zoph et al.'s detection policy), and on request
   ``op`` (the planted shift's undoing op alone, at its level, p 0.5: what finding it
   can be worth).

Variants: ``natural`` (clean images everywhere) and the planted shifts ``invert`` / ``dark``
(the held-out and test images inverted, or darkened to PIL brightness 0.3; the training
images are clean): the Invert / Brightness op undoes each, and the search should move
towards it (``bench_policy.planted_found``'s statistics are reported).

Prints bbox mAP per (variant, arm), mean ± std over seeds, and the undoing op's statistics
per search; writes everything to ``--out`` with the provenance. Last line: ``key=value``
pairs (mAP gains of ``searched`` over the other arms, in mAP points x 100).
"""
import argparse
import json
import os
import os.path as osp
import sys
import tempfile
import time
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import bench_policy  # noqa: E402
from bench_policy import _map, mean_std, policy_movement, undo_op_summary  # noqa: E402
from provenance import provenance as made_by_script  # noqa: E402
from provenance import write_results  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
ARMS = ('none', 'searched', 'dada-imagenet', 'zoph-det-v0', 'op')
VARIANTS = ('natural', 'invert', 'dark')
#: the op (and level) that undoes each planted shift
SHIFT_OPS = {'invert': ('Invert', None), 'dark': ('Brightness', 1.0 / 9.0)}
#: the same in the detection family (``search_space='zoph-detection'``), which has no
#: Invert: Solarize at level 0 (threshold 0) inverts every pixel
ZOPH_SHIFT_OPS = {'invert': ('Solarize', 0.0), 'dark': ('Brightness', 1.0 / 9.0)}
CLASSES = ('circle', 'square', 'triangle', 'cross')


def shift_image(img, variant: str):
    from dada_mm.ops import image_ops
    if variant == 'invert':
        return image_ops.apply_op(img, 'Invert', 0.5)
    if variant == 'dark':
        return image_ops.apply_op(img, 'Brightness', 1.0 / 9.0)
    raise ValueError(f'unknown variant {variant!r}; choose from {list(VARIANTS)}')


def make_data(root: str, args) -> None:
    """The generated set, and a shifted copy of every image per planted variant
    (``train2017_<variant>/``, ``val2017_<variant>/``; same annotations)."""
    import cv2

    from dada_mm.datasets.synthetic import make_coco_set
    make_coco_set(root, num_classes=len(CLASSES), train_images=args.train_images,
                  val_images=args.test_images, size=tuple(args.size), seed=args.data_seed)
    for variant in args.variants:
        if variant == 'natural':
            continue
        for split in ('train2017', 'val2017'):
            out = osp.join(root, f'{split}_{variant}')
            os.makedirs(out, exist_ok=True)
            for name in sorted(os.listdir(osp.join(root, split))):
                img = cv2.imread(osp.join(root, split, name))
                cv2.imwrite(osp.join(out, name), shift_image(img, variant))


def _dataset(root: str, split: str, prefix: str, pipeline: List[Dict]) -> Dict:
    return dict(type='CocoDataset', data_root=root + '/', metainfo=dict(classes=CLASSES),
                ann_file=f'annotations/instances_{split}.json',
                data_prefix=dict(img=f'{prefix}/'), filter_cfg=dict(filter_empty_gt=True),
                pipeline=pipeline)


def _loader(dataset: Dict, batch: int, shuffle: bool) -> Dict:
    return dict(batch_size=batch, num_workers=0, persistent_workers=False,
                sampler=dict(type='DefaultSampler', shuffle=shuffle), dataset=dataset)


def base_cfg(args, work_dir: str, seed: int, epochs: int):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'demo', 'demo_retinanet_shapes.py'))
    cfg.model.backbone.init_cfg = None
    cfg.model.test_cfg.score_thr = 0.0  # mAP over all 100 detections, even when unsure
    cfg.work_dir = work_dir
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=epochs, val_interval=10000)
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.05, by_epoch=False, begin=0, end=50),
        dict(type='MultiStepLR', begin=0, end=epochs, by_epoch=True,
             milestones=[int(epochs * 0.75)], gamma=0.1)]
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator'):
        cfg.pop(key, None)
    cfg.default_hooks = dict(cfg.default_hooks, logger=dict(type='LoggerHook', interval=50),
                             checkpoint=dict(type='CheckpointHook', interval=10000))
    cfg.visualizer = dict(type='DetLocalVisualizer', vis_backends=[],
                          name=f'vis_{osp.basename(work_dir)}')
    cfg.log_level = 'WARNING'
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.img_scale = tuple(args.size[::-1])  # (w, h)
    return cfg


def train_pipeline(cfg, extra: List[Dict]) -> List[Dict]:
    return [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
            dict(type='Resize', scale=tuple(cfg.img_scale), keep_ratio=True),
            dict(type='RandomFlip', prob=0.5), *extra,
            dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
            dict(type='PackDetInputs')]


def with_options(hook: Dict, options: Dict) -> Dict:
    """``hook`` with ``options`` (``--hook-options``) over it. The ``estimator`` dict is
    merged key by key while it names the same type (or none), so ``{"estimator":
    {"reward": "match"}}`` keeps the benchmark's images and draws per update; any other
    key, and an estimator of another type, replaces the benchmark's."""
    out = dict(hook)
    for key, value in options.items():
        base = out.get(key)
        if (key == 'estimator' and isinstance(base, dict) and isinstance(value, dict)
                and value.get('type', base['type']) == base['type']):
            out[key] = {**base, **value}
        else:
            out[key] = value
    return out


def search_cfg(args, root: str, variant: str, seed: int, work_dir: str) -> Dict:
    cfg = base_cfg(args, work_dir, seed, args.search_epochs)
    held_prefix = 'train2017' if variant == 'natural' else f'train2017_{variant}'
    held_out_pipeline = [dict(type='LoadImageFromFile'),
                         dict(type='LoadAnnotations', with_bbox=True),
                         dict(type='Resize', scale=tuple(cfg.img_scale), keep_ratio=True),
                         dict(type='PackDetInputs')]
    split = dict(held_out=args.held_out, seed=seed)
    cfg.train_dataloader = _loader(
        dict(type='HeldOutSplit', part='train', **split,
             dataset=_dataset(root, 'train2017', 'train2017', train_pipeline(cfg, []))),
        args.batch_size, True)
    held_out = _loader(
        dict(type='HeldOutSplit', part='held_out', **split,
             dataset=_dataset(root, 'train2017', held_prefix, held_out_pipeline)),
        args.batch_size, True)
    hook = dict(type='DADASearchHook', val_dataloader=held_out, top_k=25,
                update_interval=args.update_interval,
                estimator=dict(type='candidates', num_images=args.num_images, num_draws=2,
                               magnitude_ops=1))
    cfg.custom_hooks = [with_options(hook, args.hook_options)]
    for key in ('test_dataloader', 'test_cfg', 'test_evaluator'):
        cfg.pop(key, None)
    return cfg.to_dict()


def arm_transforms(arm: str, policy_file: Optional[str], variant: str = 'natural'
                   ) -> List[Dict]:
    if arm == 'none':
        return []
    if arm == 'op':
        return [dict(type='DADAAugment',
                     policy=bench_policy.undoing_op_policy(variant, SHIFT_OPS))]
    if arm == 'searched':
        return [dict(type='DADAAugment', policy=policy_file, top_k=25)]
    if arm in ('dada-imagenet', 'zoph-det-v0'):
        return [dict(type='DADAAugment', policy=arm)]
    raise ValueError(f'unknown arm {arm!r}; choose from {list(ARMS)}')


def retrain_cfg(args, root: str, variant: str, seed: int, arm: str, work_dir: str,
                policy_file: Optional[str]) -> Dict:
    cfg = base_cfg(args, work_dir, seed, args.epochs)
    test_prefix = 'val2017' if variant == 'natural' else f'val2017_{variant}'
    cfg.train_dataloader = _loader(
        _dataset(root, 'train2017', 'train2017',
                 train_pipeline(cfg, arm_transforms(arm, policy_file, variant))),
        args.batch_size, True)
    test = _dataset(root, 'val2017', test_prefix, [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=tuple(args.size[::-1]), keep_ratio=True),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
                                              'img_shape', 'scale_factor'))])
    test['test_mode'] = True
    cfg.test_dataloader = _loader(test, 8, False)
    cfg.test_evaluator = dict(type='CocoMetric', metric='bbox', format_only=False,
                              ann_file=osp.join(root, 'annotations',
                                                'instances_val2017.json'))
    return cfg.to_dict()


def run_search(job: Dict) -> Dict:
    from mmengine.config import Config
    from mmengine.runner import Runner

    import dada_mm  # noqa: F401
    from dada_mm.search import DADASearchHook
    t0 = time.perf_counter()
    runner = Runner.from_cfg(Config(job['cfg']))
    runner.train()
    hook = [h for h in runner.hooks if isinstance(h, DADASearchHook)][0]
    out = dict(kind='search', variant=job['variant'], seed=job['seed'],
               seconds=time.perf_counter() - t0, updates=hook.updates,
               skipped=hook.skipped_updates,
               policy_file=osp.join(job['cfg']['work_dir'], 'dada_policy.json'),
               movement=policy_movement(hook.policy))
    space = hook.search_space
    shift_ops = ZOPH_SHIFT_OPS if space.name == 'zoph-detection' else SHIFT_OPS
    ops = ([shift_ops[job['variant']]] if job['variant'] in shift_ops
           else [(shift_ops['invert'][0], None), ('Brightness', None)])
    out['ops'] = {op: dict(undo_op_summary(hook.policy, op, hook.learner.cfg.init, space),
                           target_level=level)
                  for op, level in ops}
    out['search_space'] = space.name
    return out


def run_retrain(job: Dict) -> Dict:
    from mmengine.config import Config
    from mmengine.runner import Runner

    import dada_mm  # noqa: F401
    t0 = time.perf_counter()
    runner = Runner.from_cfg(Config(job['cfg']))
    runner.train()
    metrics = runner.test()
    if 'coco/bbox_mAP' not in metrics:
        raise RuntimeError(f"{job['cfg']['work_dir']}: no bbox mAP in {metrics}")
    return dict(kind='retrain', variant=job['variant'], seed=job['seed'], arm=job['arm'],
                seconds=time.perf_counter() - t0, bbox_map=float(metrics['coco/bbox_mAP']),
                bbox_map_50=float(metrics['coco/bbox_mAP_50']))


def report(results: List[Dict], variants, arms) -> Dict[str, str]:
    pairs = {}
    retrained = any(r['kind'] == 'retrain' for r in results)
    if retrained:  # (a --search-only run has no mAP table)
        print('\n| variant | arm | bbox mAP x 100 (mean ± std) | per seed | vs none |')
        print('|---|---|---|---|---|')
    for variant in variants if retrained else ():
        rows = [r for r in results if r['kind'] == 'retrain' and r['variant'] == variant]
        by_arm = {a: [100 * r['bbox_map'] for r in sorted(rows, key=lambda r: r['seed'])
                      if r['arm'] == a] for a in arms}
        none = mean_std(by_arm.get('none', []))[0]
        for arm, values in by_arm.items():
            if not values:
                continue
            m, s = mean_std(values)
            gain = '' if arm == 'none' or none != none else f'{m - none:+.2f}'  # nan: no none
            print(f'| {variant} | {arm} | {m:.2f} ± {s:.2f} | '
                  f'{", ".join(f"{v:.2f}" for v in values)} | {gain} |')
        if by_arm.get('searched'):
            searched = mean_std(by_arm['searched'])[0]
            for arm, values in by_arm.items():
                if arm != 'searched' and values:
                    pairs[f'{variant}_searched_vs_{arm}'] = (
                        f'{searched - mean_std(values)[0]:+.2f}')
    print('\n| variant | seed | op | selection ratio | in top-25 (chance) | mean p | mean m '
          '| found | search s | updates |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for r in results:
        if r['kind'] != 'search':
            continue
        for op, info in r['ops'].items():
            print(f"| {r['variant']} | {r['seed']} | {op} | {info['selection_ratio']:.2f} | "
                  f"{info['in_top25']} ({info['in_top25_chance']:.1f}) | "
                  f"{info['mean_prob']:.3f} | {info['mean_magnitude']:.3f} | "
                  f"{found(r['variant'], op, info)} | "
                  f"{r['seconds']:.0f} | {r['updates']} |")
    return pairs


def found(variant: str, op: str, info: Dict) -> str:
    """The planted criterion's verdict ('' where nothing is planted)."""
    if variant not in SHIFT_OPS:
        return ''
    return 'yes' if bench_policy.planted_found(dict(ops={op: info})) else 'no'


def provenance(argv) -> Dict:
    return made_by_script('benchmarks/bench_det_policy.py', argv)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--variants', nargs='+', default=['natural', 'invert'],
                        choices=VARIANTS)
    parser.add_argument('--arms', nargs='+', default=list(ARMS[:4]), choices=ARMS,
                        help="'op' (planted variants only) is not in the default arms")
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--train-images', type=int, default=200)
    parser.add_argument('--test-images', type=int, default=40)
    parser.add_argument('--held-out', type=int, default=40,
                        help='training images held out for the search')
    parser.add_argument('--size', type=int, nargs=2, default=(128, 160), metavar=('H', 'W'))
    parser.add_argument('--data-seed', type=int, default=0)
    parser.add_argument('--epochs', type=int, default=48, help='retraining epochs')
    parser.add_argument('--search-epochs', type=int, default=24)
    parser.add_argument('--update-interval', type=int, default=2)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--num-images', type=int, default=2,
                        help='images scored per policy update (candidates)')
    parser.add_argument('--hook-options', type=json.loads, default={},
                        help='JSON dict of DADASearchHook options over the ones above (the '
                             "estimator's keys merged into the benchmark's while its type "
                             'is the same; every other option replaced)')
    parser.add_argument('--search-only', action='store_true',
                        help='run the searches and report the undoing op; no retraining')
    parser.add_argument('--jobs', type=int, default=2)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--out', default=None)
    args = parser.parse_args(argv)
    made_by = provenance(sys.argv[1:] if argv is None else argv)
    work = args.work_dir or tempfile.mkdtemp(prefix='bench_det_policy_')
    root = osp.join(work, 'shapes')
    make_data(root, args)
    t0 = time.perf_counter()
    search_jobs = ([dict(variant=v, seed=s,
                         cfg=search_cfg(args, root, v, s, osp.join(work, f'search_{v}_{s}')))
                    for v in args.variants for s in args.seeds]
                   if args.search_only or 'searched' in args.arms else [])
    results = _map(run_search, search_jobs, args.jobs, args.threads)
    policy_of = {(r['variant'], r['seed']): r['policy_file'] for r in results}
    retrain_jobs = [dict(variant=v, seed=s, arm=a,
                         cfg=retrain_cfg(args, root, v, s, a,
                                         osp.join(work, f'retrain_{v}_{a}_{s}'),
                                         policy_of.get((v, s))))
                    for v in args.variants for a in args.arms for s in args.seeds
                    if not args.search_only and (a != 'op' or v in SHIFT_OPS)]
    results += _map(run_retrain, retrain_jobs, args.jobs, args.threads)
    pairs = report(results, args.variants, args.arms)
    print(f'total wall time {time.perf_counter() - t0:.0f} s with {args.jobs} job(s)')
    if args.out:
        write_results(args.out, made_by, args, results=results)
    print(' '.join(f'{k}={v}' for k, v in pairs.items()))
    return dict(results=results, pairs=pairs)


if __name__ == '__main__':
    main()
