"""The whole DADA pipeline on the built-in data, end to end (``make demo``).

    python tools/run_demo.py [--work-dir work_dirs/demo] [--data-root data]
                             [--scale full|ci] [--skip-data]

Steps, each through the same entry points a user runs (``tools/generate_data.py``,
``tools/train.py``, ``tools/export_backbone.py``, ``tools/test.py``; called in this
process, the exact command lines are printed):

1. ``data``: generate the shapes classification set and the shapes_coco detection set
   (deterministic; skipped when ``<data-root>/.dada_demo_data.json`` says the same
   parameters were already generated).
2. ``search``: DADA search on the reduced split (search_train / search_val halves of
   the training set), ``configs/demo/demo_search_shapes.py``: ``dada_policy.json``
   (top-25 sub-policies) and ``dada_search_history.json``.
3. ``pretrain_dada`` / ``pretrain_baseline``: the paper's second stage, the classifier
   trained from scratch on the whole training set with the searched policy
   (``configs/demo/demo_pretrain_shapes.py``), and the same recipe without the policy
   (``configs/demo/demo_pretrain_shapes_baseline.py``), the fair baseline.
4. ``export``: both backbones for mmdet (``tools/export_backbone.py``); the DADA one
   ships its policy as ``backbone_dada_policy.json``.
5. ``det_dada`` / ``det_baseline``: RetinaNet fine-tuned on shapes_coco from the DADA
   backbone with the DADA policy (``configs/demo/demo_retinanet_shapes.py``), and from
   the baseline backbone without a policy (``..._baseline.py``).
6. ``eval``: ``tools/test.py`` on the final detector checkpoints: COCO bbox mAP on
   shapes_coco val2017 (the classifiers' top-1 on the shapes val split comes from their
   validation after the last epoch).
7. ``figures``: augmented samples of the top sub-policies and the search trajectories
   (PNG in the work_dir and through MMEngine's ``LocalVisBackend`` in ``<work-dir>/vis``).

Finally ``summary.md`` / ``summary.json`` in the work_dir. ``--scale ci`` is a much
smaller version of the same pipeline (a couple of minutes) for the tests.
"""
from __future__ import annotations

import argparse
import functools
import gc
import hashlib
import json
import math
import os
import os.path as osp
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

CONFIGS = dict(
    search=osp.join(REPO, 'configs', 'demo', 'demo_search_shapes.py'),
    pretrain_dada=osp.join(REPO, 'configs', 'demo', 'demo_pretrain_shapes.py'),
    pretrain_baseline=osp.join(REPO, 'configs', 'demo',
                               'demo_pretrain_shapes_baseline.py'),
    det_dada=osp.join(REPO, 'configs', 'demo', 'demo_retinanet_shapes.py'),
    det_baseline=osp.join(REPO, 'configs', 'demo', 'demo_retinanet_shapes_baseline.py'),
)
KINDS = ('dada', 'baseline')  # the two arms: with the searched policy, and without


@dataclass(frozen=True)
class DataSpec:
    """The generated data sets (``tools/generate_data.py``'s arguments)."""
    classes: int
    train_per_class: int
    test_per_class: int
    cls_size: int
    coco_train: int
    coco_val: int
    seed: int

    def argv(self, root: str) -> List[str]:
        return ['--root', root, '--classes', str(self.classes),
                '--train-per-class', str(self.train_per_class),
                '--test-per-class', str(self.test_per_class),
                '--cls-size', str(self.cls_size), '--coco-train', str(self.coco_train),
                '--coco-val', str(self.coco_val), '--seed', str(self.seed)]


@dataclass(frozen=True)
class Scale:
    """Generated data sizes and the epochs of each training step. ``None`` epochs keep
    the config's own schedule (``full`` is what the configs are written for)."""
    data: DataSpec
    search_epochs: Optional[int] = None
    pretrain_epochs: Optional[int] = None
    det_epochs: Optional[int] = None
    #: extra ``--cfg-options`` of the detection runs (training and evaluation)
    det_options: Tuple[str, ...] = ()


SCALES: Dict[str, Scale] = dict(
    full=Scale(data=DataSpec(classes=6, train_per_class=400, test_per_class=50,
                             cls_size=32, coco_train=240, coco_val=30, seed=0)),
    ci=Scale(data=DataSpec(classes=6, train_per_class=8, test_per_class=4, cls_size=32,
                           coco_train=16, coco_val=8, seed=0),
             search_epochs=2, pretrain_epochs=1, det_epochs=1,
             # an untrained head scores below mmdet's 0.05: keep every box so that the
             # COCO evaluation has detections to score
             det_options=('model.test_cfg.score_thr=0.0', )),
)

DATA_STAMP = '.dada_demo_data.json'
DEMO_CLASSES = ('circle', 'star', 'cross')  # images of the sample grid (val split)


@dataclass(frozen=True)
class DemoPaths:
    """Where the steps write, under the work dir."""
    work_dir: str

    @property
    def search(self) -> str:
        return osp.join(self.work_dir, 'search')

    @property
    def policy(self) -> str:
        return osp.join(self.search, 'dada_policy.json')

    @property
    def history(self) -> str:
        return osp.join(self.search, 'dada_search_history.json')

    def pretrain(self, kind: str) -> str:
        return osp.join(self.work_dir, f'pretrain_{kind}')

    def backbone(self, kind: str) -> str:
        return osp.join(self.work_dir, f'backbone_{kind}.pth')

    def det(self, kind: str) -> str:
        return osp.join(self.work_dir, f'det_{kind}')


@dataclass(frozen=True)
class DataResult:
    generated: bool  # False: the data under --data-root was used as it is


@dataclass(frozen=True)
class TrainResult:
    val: Dict[str, float]  # the last validation metrics ({} without validation)
    checkpoint: Optional[str] = None  # the final checkpoint


@dataclass(frozen=True)
class Exported:
    backbones: Dict[str, str]  # kind -> backbone file for mmdet
    policy: str  # the policy shipped with the DADA backbone


@dataclass(frozen=True)
class Evaluation:
    classification: Dict[str, Dict[str, float]]  # kind -> metrics
    detection: Dict[str, Dict[str, float]]  # kind -> metrics


@dataclass
class DemoResults:
    """What the steps return, filled in as they run."""
    data: Optional[DataResult] = None
    search: Optional[TrainResult] = None
    pretrain: Dict[str, TrainResult] = field(default_factory=dict)
    export: Optional[Exported] = None
    det: Dict[str, TrainResult] = field(default_factory=dict)
    eval: Optional[Evaluation] = None
    figures: Dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers
def banner(text: str) -> None:
    line = '=' * 78
    print(f'\n{line}\n== {text}\n{line}', flush=True)


def show_command(tool: str, argv: List[str]) -> None:
    print('$ python ' + ' '.join(shlex.quote(a) for a in
                                 [osp.relpath(osp.join(REPO, tool))] + argv), flush=True)


def epochs_options(epochs: Optional[int]) -> List[str]:
    if epochs is None:
        return []
    return [f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}',
            f'default_hooks.checkpoint.interval={epochs}']


@functools.lru_cache(maxsize=None)
def _dada_augment_key(config: str) -> str:
    from mmengine.config import Config

    from dada_mm.utils.pipeline import train_transform_key
    return train_transform_key(Config.fromfile(config), 'DADAAugment')


def policy_option(config: str, policy: str) -> str:
    """The ``--cfg-options`` entry that sets the policy of ``config``'s DADAAugment
    (found by its type: ``--cfg-options`` reaches a pipeline entry by index only)."""
    return f'{_dada_augment_key(config)}.policy={policy}'


def last_checkpoint(work_dir: str) -> str:
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        raise FileNotFoundError(f'no last_checkpoint in {work_dir}: did training run?')
    with open(marker) as f:
        path = f.read().strip()
    if not osp.isabs(path):
        path = osp.join(work_dir, osp.basename(path))
    if not osp.isfile(path):
        raise FileNotFoundError(f'{marker} names {path!r}, which does not exist')
    return path


def run_train(config: str, work_dir: str, options: List[str],
              validate: bool = True) -> Dict[str, float]:
    """tools/train.py in this process; returns the last validation metrics."""
    from tools.train import main as train_main
    argv = [config, '--work-dir', work_dir] + ([] if validate else ['--no-validate']) + (
        ['--cfg-options', *options] if options else [])
    show_command('tools/train.py', argv)
    runner = train_main(argv)
    metrics = {}
    for key, buf in runner.message_hub.log_scalars.items():
        if key.startswith('val/'):
            metrics[key[4:]] = float(buf.current())
    del runner
    gc.collect()
    return metrics


def run_test(config: str, checkpoint: str, work_dir: str,
             options: List[str]) -> Dict[str, float]:
    from tools.test import main as test_main
    argv = [config, checkpoint, '--work-dir', work_dir] + (
        ['--cfg-options', *options] if options else [])
    show_command('tools/test.py', argv)
    metrics = test_main(argv)
    gc.collect()
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) or hasattr(v, 'item')}


def cls_data_options(root: str) -> List[str]:
    return [f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}']


def det_data_options(root: str) -> List[str]:
    root = root.rstrip('/') + '/'
    ann = root + 'annotations/instances_val2017.json'
    return [f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}',
            f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}']


def _source_digest() -> str:
    from dada_mm.datasets import synthetic
    with open(synthetic.__file__, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


# --------------------------------------------------------------------------- steps
def step_data(args, scale: Scale) -> DataResult:
    params = dict(asdict(scale.data), generator=_source_digest())
    stamp = osp.join(args.data_root, DATA_STAMP)
    present = all(osp.isdir(osp.join(args.data_root, d))
                  for d in ('shapes/meta', 'shapes_coco/annotations'))
    if args.skip_data:
        if not present:
            raise FileNotFoundError(f'--skip-data: no generated data in {args.data_root}')
        print(f'--skip-data: using the data in {args.data_root} as it is', flush=True)
        return DataResult(generated=False)
    if present and osp.isfile(stamp):
        with open(stamp) as f:
            if json.load(f) == params:
                print(f'data in {args.data_root} already generated with the same '
                      f'parameters ({stamp}); skipping', flush=True)
                return DataResult(generated=False)
    from tools.generate_data import main as generate_main
    argv = scale.data.argv(args.data_root)
    show_command('tools/generate_data.py', argv)
    if osp.isfile(stamp):
        os.remove(stamp)  # never leave a stamp that does not match the files
    generate_main(argv)
    with open(stamp, 'w') as f:
        json.dump(params, f, indent=1)
    return DataResult(generated=True)


def step_search(args, scale: Scale, paths: DemoPaths) -> TrainResult:
    root = osp.join(args.data_root, 'shapes')
    opts = cls_data_options(root) + [
        f'custom_hooks.0.val_dataloader.dataset.data_root={root}']
    if scale.search_epochs is not None:
        n = scale.search_epochs
        opts += epochs_options(n) + [f'param_scheduler.T_max={n}']
    return TrainResult(val=run_train(CONFIGS['search'], paths.search, opts))


def step_pretrain(args, scale: Scale, paths: DemoPaths, kind: str) -> TrainResult:
    config = CONFIGS[f'pretrain_{kind}']
    opts = cls_data_options(osp.join(args.data_root, 'shapes'))
    if kind == 'dada':
        opts.append(policy_option(config, paths.policy))
    opts += epochs_options(scale.pretrain_epochs)
    metrics = run_train(config, paths.pretrain(kind), opts)
    return TrainResult(val=metrics, checkpoint=last_checkpoint(paths.pretrain(kind)))


def step_export(paths: DemoPaths, pretrain: Dict[str, TrainResult]) -> Exported:
    from tools.export_backbone import main as export_main
    for kind in KINDS:
        argv = [pretrain[kind].checkpoint, paths.backbone(kind),
                '--depth', '18', '--base-channels', '16', '--force']
        if kind == 'dada':
            argv += ['--policy', paths.policy]
        show_command('tools/export_backbone.py', argv)
        if export_main(argv) != 0:
            raise RuntimeError(f'tools/export_backbone.py failed for the {kind} backbone')
    policy = paths.backbone('dada')[:-len('.pth')] + '_policy.json'
    if not osp.isfile(policy):
        raise FileNotFoundError(f'export did not write {policy}')
    return Exported(backbones={kind: paths.backbone(kind) for kind in KINDS},
                    policy=policy)


def det_options(args, kind: str, exported: Exported) -> List[str]:
    """--cfg-options of the detector of arm ``kind``, in training and in evaluation."""
    opts = det_data_options(osp.join(args.data_root, 'shapes_coco'))
    opts.append(f'model.backbone.init_cfg.checkpoint={exported.backbones[kind]}')
    if kind == 'dada':
        opts.append(policy_option(CONFIGS['det_dada'], exported.policy))
    return opts


def step_detection(args, scale: Scale, paths: DemoPaths, kind: str,
                   exported: Exported) -> TrainResult:
    opts = det_options(args, kind, exported)
    opts += epochs_options(scale.det_epochs)
    opts += scale.det_options
    # evaluated once, by the eval step (tools/test.py on the final checkpoint)
    metrics = run_train(CONFIGS[f'det_{kind}'], paths.det(kind), opts, validate=False)
    return TrainResult(val=metrics, checkpoint=last_checkpoint(paths.det(kind)))


def step_eval(args, scale: Scale, paths: DemoPaths, results: DemoResults) -> Evaluation:
    # the classifiers were validated on the val split after their last epoch (their
    # final checkpoint): top-1 comes from there, no second pass
    classification = {kind: dict(results.pretrain[kind].val) for kind in KINDS}
    detection = {}
    for kind in KINDS:
        detection[kind] = run_test(
            CONFIGS[f'det_{kind}'], results.det[kind].checkpoint,
            osp.join(paths.det(kind), 'test'),
            det_options(args, kind, results.export) + list(scale.det_options))
    return Evaluation(classification=classification, detection=detection)


def _demo_images(data_root: str):
    import cv2
    images = []
    for name in DEMO_CLASSES:
        folder = osp.join(data_root, 'shapes', 'val', name)
        files = sorted(os.listdir(folder)) if osp.isdir(folder) else []
        if files:
            images.append(cv2.imread(osp.join(folder, files[0])))
    return [im for im in images if im is not None]


def _det_image_with_boxes(data_root: str):
    import cv2
    root = osp.join(data_root, 'shapes_coco')
    with open(osp.join(root, 'annotations', 'instances_val2017.json')) as f:
        doc = json.load(f)
    # the val image with the most objects
    counts = {}
    for a in doc['annotations']:
        counts[a['image_id']] = counts.get(a['image_id'], 0) + 1
    image_id = max(sorted(counts), key=lambda i: counts[i])
    info = next(im for im in doc['images'] if im['id'] == image_id)
    img = cv2.imread(osp.join(root, 'val2017', info['file_name']))
    boxes = [[a['bbox'][0], a['bbox'][1], a['bbox'][0] + a['bbox'][2],
              a['bbox'][1] + a['bbox'][3]] for a in doc['annotations']
             if a['image_id'] == image_id]
    return img, boxes


def step_figures(args, paths: DemoPaths) -> Dict[str, str]:
    from dada_mm.visualization import (
        build_visualizer,
        policy_sample_grid,
        save_image,
        write_policy_figures,
    )
    vis_dir = osp.join(args.work_dir, 'vis')
    visualizer = build_visualizer(vis_dir, name=f'dada_demo_{os.getpid()}_{time.time()}')
    figures = write_policy_figures(
        args.work_dir, paths.policy, history=paths.history,
        images=_demo_images(args.data_root), top_k=5, draws=3, seed=0,
        visualizer=visualizer,
        title='Top-5 searched sub-policies on shapes val images (DADAAugment draws)')
    img, boxes = _det_image_with_boxes(args.data_root)
    grid, _ = policy_sample_grid(
        paths.policy, [img], boxes=[boxes], top_k=5, draws=4, seed=0, cell=160,
        title='Top-5 sub-policies on a shapes_coco image; boxes move with the geometric '
              'ops')
    figures['policy_samples_det'] = save_image(
        grid, osp.join(args.work_dir, 'policy_samples_det.png'), visualizer,
        'policy_samples_det')
    figures['vis_dir'] = osp.join(vis_dir, 'vis_data', 'vis_image')
    return figures


# --------------------------------------------------------------------------- summary
def _fmt(value, pattern='{:.2f}'):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return 'n/a'
    return pattern.format(value)


def build_summary(args, scale_name: str, paths: DemoPaths, results: DemoResults,
                  times: Dict[str, float]) -> Dict[str, Any]:
    from dada_mm.policy import load_policy_file
    doc = load_policy_file(paths.policy)
    sel = doc['meta'].get('selection_probs') or [None] * len(doc['sub_policies'])
    top5 = [dict(rank=i + 1, selection_weight=sel[i], ops=sub)
            for i, sub in enumerate(doc['sub_policies'][:5])]
    cls_eval, det_eval = results.eval.classification, results.eval.detection
    movement = None
    if osp.exists(paths.history):
        from dada_mm.search.history import policy_movement
        with open(paths.history) as f:
            history = json.load(f)
        if history['epochs']:
            from dada_mm.search import SEARCH_PRESETS
            init = SEARCH_PRESETS['default']['learner']['init']  # the demo's search starts
            n = len(history['sub_policies'])  # here: one alpha for all (uniform), one p, m
            start = dict(selection_probs=[1.0 / n] * n, probs=[[init['prob']] * 2] * n,
                         magnitudes=[[init['magnitude']] * 2] * n)
            movement = policy_movement(history['epochs'][-1], start)
    summary = dict(
        scale=scale_name, work_dir=osp.abspath(args.work_dir),
        data_root=osp.abspath(args.data_root),
        search=dict(seconds=times.get('search'),
                    epochs=doc['meta'].get('epochs_done'),
                    updates=doc['meta'].get('search', {}).get('updates'),
                    policy_file=paths.policy, history_file=paths.history,
                    top5=top5, movement=movement),
        classification=dict(
            dada_top1=cls_eval['dada'].get('accuracy/top1'),
            baseline_top1=cls_eval['baseline'].get('accuracy/top1'),
            search_net_top1=results.search.val.get('accuracy/top1'),
            checkpoints=dict(dada=results.pretrain['dada'].checkpoint,
                             baseline=results.pretrain['baseline'].checkpoint)),
        detection=dict(
            dada_bbox_mAP=det_eval['dada'].get('coco/bbox_mAP'),
            baseline_bbox_mAP=det_eval['baseline'].get('coco/bbox_mAP'),
            dada_bbox_mAP_50=det_eval['dada'].get('coco/bbox_mAP_50'),
            baseline_bbox_mAP_50=det_eval['baseline'].get('coco/bbox_mAP_50'),
            metrics=dict(dada=det_eval['dada'], baseline=det_eval['baseline']),
            checkpoints=dict(dada=results.det['dada'].checkpoint,
                             baseline=results.det['baseline'].checkpoint),
            backbones=dict(dada=paths.backbone('dada'),
                           baseline=paths.backbone('baseline'),
                           dada_policy=results.export.policy)),
        baseline=('same classifier recipe without the policy (crop + flip only), its '
                  'backbone fine-tuned in the same RetinaNet without DADAAugment'),
        figures=results.figures,
        step_seconds=times,
        total_seconds=sum(times.values()))
    return summary


def summary_markdown(s: Dict[str, Any]) -> str:
    c, d = s['classification'], s['detection']
    lines = [f"# DADA demo summary (scale: {s['scale']})", '',
             f"Work dir: `{s['work_dir']}`; data: `{s['data_root']}`.", '',
             '## Search', '',
             f"{_fmt(s['search']['seconds'], '{:.0f}')} s, "
             f"{s['search']['epochs']} epoch(s), {s['search']['updates']} policy updates; "
             f"policy: `{s['search']['policy_file']}`.", '']
    mv = s['search'].get('movement')
    if mv:
        lines += [f"How far the policy moved from its start (uniform selection, p = m = 0.5): "
                  f"selection entropy {mv['entropy']:.3f} nats (uniform "
                  f"{mv['uniform_entropy']:.3f}); the most selected sub-policy at "
                  f"{mv['max_selection_vs_uniform']:.2f}x uniform, the least at "
                  f"{mv['min_selection_vs_uniform']:.2f}x; total-variation distance of the "
                  f"selection from uniform {mv['selection_tv_from_start']:.3f}; mean "
                  f"|change| of p {mv['mean_abs_prob_change']:.3f}, of m "
                  f"{mv['mean_abs_magnitude_change']:.3f}.", '']
    lines += ['| rank | weight | op 1 (p, m) | op 2 (p, m) |', '|---|---|---|---|']
    for row in s['search']['top5']:
        ops = [f"{o['op']} ({o['prob']:.2f}, {o['magnitude']:.2f})" for o in row['ops']]
        lines.append(f"| {row['rank']} | {_fmt(row['selection_weight'], '{:.4f}')} | "
                     + ' | '.join(ops) + ' |')
    lines += ['', '## Results', '',
              '| | DADA | baseline (no policy) |', '|---|---|---|',
              f"| classification top-1 (shapes val, %) | {_fmt(c['dada_top1'])} | "
              f"{_fmt(c['baseline_top1'])} |",
              f"| detection bbox mAP (shapes_coco val) | "
              f"{_fmt(d['dada_bbox_mAP'], '{:.3f}')} | "
              f"{_fmt(d['baseline_bbox_mAP'], '{:.3f}')} |",
              f"| detection bbox mAP@0.5 | {_fmt(d['dada_bbox_mAP_50'], '{:.3f}')} | "
              f"{_fmt(d['baseline_bbox_mAP_50'], '{:.3f}')} |", '',
              f"Baseline: {s['baseline']}. The network the search trained (on the "
              f"search-train half) reached {_fmt(c['search_net_top1'])} % top-1.", '',
              '## Wall time per step', '', '| step | seconds |', '|---|---|']
    for step, sec in s['step_seconds'].items():
        lines.append(f'| {step} | {sec:.1f} |')
    lines.append(f"| **total** | **{s['total_seconds']:.1f}** |")
    lines += ['', '## Pictures', '']
    for name, path in s['figures'].items():
        lines.append(f'- {name}: `{path}`')
    return '\n'.join(lines) + '\n'


# --------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--work-dir', default='work_dirs/demo')
    p.add_argument('--data-root', default='data')
    p.add_argument('--scale', choices=sorted(SCALES), default='full',
                   help="'full': the demo (<= 15 min on 2 CPU cores); 'ci': a much "
                        'smaller run of the same steps, for tests')
    p.add_argument('--skip-data', action='store_true',
                   help='use the data under --data-root as it is (no generation)')
    return p.parse_args(argv)


def main(argv=None) -> Dict[str, Any]:
    args = parse_args(argv)
    scale = SCALES[args.scale]
    os.makedirs(args.work_dir, exist_ok=True)
    wd = args.work_dir
    paths = DemoPaths(wd)

    import dada_mm  # noqa: F401  (registers everything once)
    times: Dict[str, float] = {}
    results = DemoResults()

    def timed(name, title, fn, *a):
        banner(f'[{len(times) + 1}] {title}')
        start = time.perf_counter()
        out = fn(*a)
        times[name] = time.perf_counter() - start
        print(f'-- {name}: {times[name]:.1f} s', flush=True)
        return out

    results.data = timed('data', 'generate the built-in data', step_data, args, scale)
    results.search = timed('search', 'DADA search on the shapes search split',
                           step_search, args, scale, paths)
    results.pretrain['dada'] = timed(
        'pretrain_dada', 'classifier pretraining with the searched policy',
        step_pretrain, args, scale, paths, 'dada')
    results.pretrain['baseline'] = timed(
        'pretrain_baseline', 'classifier pretraining without a policy (baseline)',
        step_pretrain, args, scale, paths, 'baseline')
    results.export = timed('export', 'export both backbones for mmdet', step_export,
                           paths, results.pretrain)
    results.det['dada'] = timed(
        'det_dada', 'RetinaNet on shapes_coco: DADA backbone + DADA policy',
        step_detection, args, scale, paths, 'dada', results.export)
    results.det['baseline'] = timed(
        'det_baseline', 'RetinaNet on shapes_coco: baseline backbone, no policy',
        step_detection, args, scale, paths, 'baseline', results.export)
    results.eval = timed('eval', 'evaluation (tools/test.py): top-1 and COCO bbox mAP',
                         step_eval, args, scale, paths, results)
    results.figures = timed('figures', 'pictures of the policy and of the search',
                            step_figures, args, paths)

    summary = build_summary(args, args.scale, paths, results, times)
    text = summary_markdown(summary)
    with open(osp.join(wd, 'summary.md'), 'w') as f:
        f.write(text)
    with open(osp.join(wd, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    banner('summary')
    print(text, flush=True)
    print(f"written: {osp.join(wd, 'summary.md')}, {osp.join(wd, 'summary.json')}",
          flush=True)
    return summary


if __name__ == '__main__':
    main()
