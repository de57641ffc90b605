"""Cost of one DADA search iteration relative to a plain training iteration.

Both are measured in the same run, on the same model, batch and device: the plain
iteration is the runner's own ``train_step``; the search iteration is the hook's
``before_train_iter`` (sampling + batched augmentation on the device) + the same
``train_step`` + the hook's ``after_train_iter`` (held-out gradient, finite differences,
estimator, policy step). Neither includes data loading: the plain step gets a loaded batch
and the hook reuses one loaded held-out batch (``fixed_val_batch``; in training, loader
workers prefetch it). Plain and search iterations alternate in rounds, so a load spike hits
a pair rather than a block of one kind; the ratio is the median over rounds of the paired
ratios, after warm-up. Ratios, not absolute times.

Also reports the throughput of the batched ops alone. Runs unchanged on a GPU
(``--device cuda``). Last line: ``second_order_ratio=.. first_order_ratio=..
 candidates_ratio=..`` (RELAX in each order, and candidate scoring, the default).

``--detector retinanet|faster-rcnn|mask-rcnn`` times a detector instead: its
``configs/<detector>_dada-search_coco.py`` as shipped (R-50-FPN, the config's candidate
scoring), on generated COCO-format images resized to ``--det-scale`` (the COCO configs use
1333x800), batch ``--batch-size``; last line ``detector_candidates_ratio=..``.
"""
import argparse
import copy
import os.path as osp
import statistics
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # (benchmarks/provenance.py)

import torch  # noqa: E402

import dada_mm  # noqa: E402,F401
from dada_mm.datasets.synthetic import make_classification_set  # noqa: E402


def set_crop(cfg, crop: int) -> None:
    """Training crop and held-out resize/centre crop of the demo config at ``crop`` px, so
    the held-out pass is as large as the training pass (as in the paper's search)."""
    pipelines = [cfg.train_dataloader.dataset.pipeline]
    pipelines += [h['val_dataloader']['dataset']['pipeline'] for h in cfg.custom_hooks
                  if h['type'] == 'DADASearchHook']
    found = set()
    for pipeline in pipelines:
        for t in pipeline:
            if t['type'] == 'RandomResizedCrop':
                t['scale'] = crop
            elif t['type'] == 'ResizeEdge':
                t['scale'] = crop * 8 // 7
            elif t['type'] == 'CenterCrop':
                t['crop_size'] = crop
            else:
                continue
            found.add(t['type'])
    if not {'RandomResizedCrop', 'CenterCrop'} <= found:
        raise ValueError(f'--crop: expected RandomResizedCrop (training) and CenterCrop '
                         f'(held-out) in the pipelines of {cfg.filename}, found {found}')


#: the settings timed: label -> (order, the hook's estimator option): 'second' / 'first'
#: are RELAX (the paper's estimator) in each order; 'candidates' the candidate-scoring step
#: (second order) with its default options, the hook's default (its reward 'auto' is
#: 'match' on these classifiers); 'candidates4' the same scoring 4 images per update
#: instead of 8; 'candidates_dot' / 'candidates4_dot' the same with ``reward='dot'`` (the
#: paper's reward, the detectors' default); 'candidates_match' with ``reward='match'``;
#: 'candidates_match_all' with ``reward='match_all'`` (the same objective in all weights)
SETTINGS = {'second': ('second', 'relax'), 'first': ('first', 'relax'),
            'candidates': ('second', dict(type='candidates')),
            'candidates4': ('second', dict(type='candidates', num_images=4)),
            'candidates_dot': ('second', dict(type='candidates', reward='dot')),
            'candidates4_dot': ('second', dict(type='candidates', num_images=4,
                                               reward='dot')),
            'candidates_match': ('second', dict(type='candidates', reward='match')),
            'candidates_match_all': ('second', dict(type='candidates', reward='match_all'))}


def build_runner(args, work_dir, data_root, order, estimator=None):
    from mmengine.config import Config
    cfg = Config.fromfile(args.config)
    cfg.work_dir = work_dir
    cfg.launcher = 'none'
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = data_root
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    cfg.train_dataloader.batch_size = args.batch_size
    for hook in cfg.custom_hooks:
        if hook['type'] == 'DADASearchHook':
            hook['val_dataloader']['dataset']['data_root'] = data_root
            hook['val_dataloader']['batch_size'] = args.val_batch_size or args.batch_size
            hook['val_dataloader']['num_workers'] = 0
            if estimator is not None:
                hook['estimator'] = estimator
            # the plain iteration is timed on a batch already loaded; so is the search
            # iteration (in training, data-loader workers load the held-out batches)
            hook['reward'] = dict(hook.get('reward') or dict(type='BilevelReward'),
                                  order=order, reward_baseline=args.reward_baseline,
                                  fixed_val_batch=True)
    if args.crop:
        set_crop(cfg, args.crop)
    if args.backbone != 'config':
        depth = int(args.backbone[len('resnet'):])
        cfg.model.backbone.update(depth=depth, base_channels=64, stem_channels=64)
        cfg.model.head.in_channels = 512 if depth < 50 else 2048
    cfg.device = args.device
    cfg.log_level = 'WARNING'
    return started(cfg, args.device)


def started(cfg, device: str):
    """A runner of ``cfg`` ready for ``train_step`` and the search hook's calls (train loop,
    optimiser, model on ``device``, ``before_run`` / ``before_train`` called), and its hook."""
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner._train_loop = runner.build_train_loop(runner._train_loop)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.model.to(device)
    runner.call_hook('before_run')
    runner.call_hook('before_train')
    hook = [h for h in runner.hooks if type(h).__name__ == 'DADASearchHook'][0]
    return runner, hook


def build_detector_runner(args, work_dir, data_root):
    """configs/<detector>_dada-search_coco.py on the generated set at ``--det-scale``,
    2 images held out, no pretrained file, the held-out batch loaded once."""
    from mmengine.config import Config
    cfg = Config.fromfile(f'configs/{args.detector}_dada-search_coco.py')
    cfg.work_dir, cfg.launcher, cfg.log_level = work_dir, 'none', 'WARNING'
    classes = ('circle', 'square', 'triangle', 'cross')
    cfg.model.backbone.init_cfg = None
    if args.backbone == 'resnet18':
        cfg.model.backbone.depth = 18
        cfg.model.neck.in_channels = [64, 128, 256, 512]
    head = cfg.model.roi_head.bbox_head if 'roi_head' in cfg.model else cfg.model.bbox_head
    head.num_classes = len(classes)
    if 'roi_head' in cfg.model and 'mask_head' in cfg.model.roi_head:
        cfg.model.roi_head.mask_head.num_classes = len(classes)
    hook = cfg.custom_hooks[0]
    hook.reward = dict(type='BilevelReward', fixed_val_batch=True)
    hook.update_interval = 1  # the timed search iteration updates the policy
    # the configs train before they search (search_begin); the timed iteration searches
    hook.learner = dict(hook.get('learner') or {}, search_begin=0)
    if args.det_reward:
        hook.estimator = dict(hook.estimator, reward=args.det_reward)
    # the cost does not depend on the learning rate; at the config's, a from-scratch R-50
    # trained on one repeated batch diverges and the updates would be skipped
    cfg.optim_wrapper.optimizer.lr = 1e-4
    for split, loader in ((cfg.train_dataloader.dataset, cfg.train_dataloader),
                          (hook.val_dataloader.dataset, hook.val_dataloader)):
        loader.update(batch_size=args.val_batch_size or args.batch_size, num_workers=0,
                      persistent_workers=False)
        split.held_out = 2
        split.dataset.update(data_root=data_root + '/', metainfo=dict(classes=classes))
        for t in split.dataset.pipeline:
            if t['type'] == 'Resize':
                t['scale'] = tuple(args.det_scale)
    cfg.train_dataloader.batch_size = args.batch_size
    cfg.train_dataloader.pop('batch_sampler', None)
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader', 'test_cfg',
                'test_evaluator'):
        cfg.pop(key, None)
    cfg.device = args.device
    return started(cfg, args.device)


def sync(device):
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def timed(fn, device, repeats, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        times.append(time_once(fn, device))
    return statistics.median(times)


def amortised_cells(r: float, q: float, total: int, searched: int) -> str:
    """Per-iteration cost ``(r + (n - 1) q) / n`` of updating every n-th step, and the
    end-to-end cost of ``total`` epochs searching in the first ``searched`` (the
    frozen-policy epochs augment on the device too, at q), for n = 1, 2, 4, 8."""
    cells = []
    for n in (1, 2, 4, 8):
        per_iter = (r + (n - 1) * q) / n
        end_to_end = ((total - searched) * q + searched * per_iter) / total
        cells.append(f'n={n}: {per_iter:.2f} / {end_to_end:.3f}')
    return ',  '.join(cells)


def time_once(fn, device) -> float:
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def profile_search(search, device: str, iterations: int, label: str = 'second') -> None:
    """Where a search iteration spends its time, and where it waits for the device.

    Prints the ten ops with the most self time (device time on CUDA) and each source line
    that reads a device value on the host (``aten::_local_scalar_dense``: ``.item()``,
    ``float(t)``, ``if t:``), with its count per iteration. On a GPU each such read is a
    synchronisation that drains the launch queue.
    """
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU]
    if device.startswith('cuda'):
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities, with_stack=True) as prof:
        for _ in range(iterations):
            search()
        sync(device)
    sort = 'self_cuda_time_total' if device.startswith('cuda') else 'self_cpu_time_total'
    print(f'profile of {iterations} search iteration(s) ({label}) on {device}:')
    print(prof.key_averages().table(sort_by=sort, row_limit=10, max_name_column_width=48))
    sites = {}
    for event in prof.events():
        if event.name != 'aten::_local_scalar_dense':
            continue
        site, e = '(no dada_mm frame)', event
        while e is not None:  # Python frames are the op's parents, named 'file.py(line): fn'
            frames = [f for f in [e.name] + list(e.stack or []) if 'dada_mm' in f]
            if frames:
                site = frames[0][frames[0].index('dada_mm'):]
                break
            e = e.cpu_parent
        sites[site] = sites.get(site, 0) + 1
    total = sum(sites.values())
    print(f'device-to-host reads: {total / iterations:.1f} per search iteration')
    for site, count in sorted(sites.items(), key=lambda kv: -kv[1]):
        print(f'  {count / iterations:6.1f}  {site}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--config', default='configs/demo/demo_search_shapes.py')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--reward-baseline', default='clean', choices=[None, 'clean'],
                        type=lambda x: None if x == 'none' else x,
                        help="the hook's reward_baseline ('clean', its default, or 'none')")
    parser.add_argument('--val-batch-size', type=int, default=0,
                        help='held-out batch size (0: the training batch size)')
    parser.add_argument('--crop', type=int, default=224,
                        help='training crop and held-out crop in px (0: as in the config; '
                        'the paper searches at 224)')
    parser.add_argument('--backbone', default='config',
                        choices=['config', 'resnet18', 'resnet50'],
                        help="'config': the demo's narrow ResNet-18 (16 base channels); "
                        'resnet18/resnet50: standard widths (the paper searches with a '
                        'ResNet-50)')
    parser.add_argument('--repeats', type=int, default=15,
                        help='rounds; each round times a plain and a search iteration of '
                        'both orders back to back, and the ratio is the median over rounds')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--threads', type=int, default=0,
                        help='torch intra-op threads (0: leave as is)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--settings', nargs='+', default=['second', 'first', 'candidates'],
                        choices=list(SETTINGS),
                        help="what to time against a plain step: 'second' / 'first' order "
                        "RELAX, 'candidates' the candidate-scoring step (second order, its "
                        "default options: the hook's default, reward 'auto'), "
                        "'candidates4' the same scoring 4 images, 'candidates_dot' / "
                        "'candidates4_dot' with reward='dot', 'candidates_match' with "
                        "reward='match', 'candidates_match_all' with reward='match_all'")
    parser.add_argument('--profile', type=int, default=0, metavar='N',
                        help='after timing, profile N second-order search iterations with '
                        'torch.profiler: the ops that take the most time, and every '
                        'device-to-host read (.item(), bool of a tensor) with its source line')
    parser.add_argument('--epochs', type=int, nargs=2, default=(100, 20),
                        metavar=('TOTAL', 'SEARCH'),
                        help='pretraining and search epochs of the end-to-end estimate '
                        "(configs/dada_resnet50_imagenet.py: 100 and 20)")
    parser.add_argument('--detector', default=None,
                        choices=['retinanet', 'faster-rcnn', 'mask-rcnn'],
                        help='time this detector\'s configs/<detector>_dada-search_coco.py '
                        'instead of the classifier config')
    parser.add_argument('--det-reward', default=None, choices=['dot', 'match'],
                        help="--detector: the candidates' reward (default: the config's, "
                        "'auto', which is 'dot' on a detector)")
    parser.add_argument('--det-scale', type=int, nargs=2, default=(512, 384),
                        metavar=('W', 'H'), help='--detector: image size (Resize scale)')
    parser.add_argument('--out', default=None,
                        help='JSON file of the ratios with the provenance (commit, command, '
                        'versions)')
    args = parser.parse_args(argv)
    from provenance import provenance, provenance_line
    made_by = provenance('benchmarks/bench_search.py',
                         sys.argv[1:] if argv is None else argv)  # the code as it starts
    print(provenance_line(made_by))
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    orders = ('detector', ) if args.detector else tuple(args.settings)
    if args.detector:
        print(f'model: configs/{args.detector}_dada-search_coco.py backbone='
              f'{"resnet50" if args.backbone == "config" else args.backbone}, images '
              f'{args.det_scale[0]}x{args.det_scale[1]}, batch {args.batch_size} (held-out '
              f'{args.val_batch_size or args.batch_size}), device {args.device}, torch '
              f'threads {torch.get_num_threads()}, torch {torch.__version__}')
    else:
        print(f'model: {args.config} backbone={args.backbone}, batch {args.batch_size} '
              f'(held-out {args.val_batch_size or args.batch_size}), reward_baseline '
              f'{args.reward_baseline}, crop '
              f'{args.crop or "as in the config"} (training and held-out), device '
              f'{args.device}, torch threads {torch.get_num_threads()}, torch '
              f'{torch.__version__}')
    with tempfile.TemporaryDirectory() as tmp:
        data_root = osp.join(tmp, 'shapes')
        if args.detector:
            from dada_mm.datasets.synthetic import make_coco_set
            make_coco_set(data_root, train_images=max(4, args.batch_size) + 2,
                          val_images=1, size=tuple(args.det_scale[::-1]))
        else:
            make_classification_set(data_root, 6, max(4, args.batch_size // 3), 2, 64)
        steps, hooks, resets = {}, {}, {}
        for order in orders:
            if args.detector:
                runner, hook = build_detector_runner(args, osp.join(tmp, 'wd_det'),
                                                     data_root)
            else:
                runner, hook = build_runner(args, osp.join(tmp, f'wd_{order}'), data_root,
                                            *SETTINGS[order])
            batch = next(iter(runner.train_dataloader))

            def plain(runner=runner, batch=batch):
                runner.model.train_step(copy.copy(batch),
                                        optim_wrapper=runner.optim_wrapper)

            def search(runner=runner, hook=hook, batch=batch):
                b = copy.copy(batch)
                hook.before_train_iter(runner, 0, b)
                out = runner.model.train_step(b, optim_wrapper=runner.optim_wrapper)
                hook.after_train_iter(runner, 0, b, out)

            def no_update(runner=runner, hook=hook, batch=batch):
                # an iteration between policy updates (update_interval > 1): the hook
                # still samples and augments on the device, the policy step is skipped
                b, interval = copy.copy(batch), hook.update_interval
                hook.update_interval = 2   # runner.iter is 0: (0 + 1) % 2 != 0
                try:
                    hook.before_train_iter(runner, 0, b)
                    out = runner.model.train_step(b, optim_wrapper=runner.optim_wrapper)
                    hook.after_train_iter(runner, 0, b, out)
                finally:
                    hook.update_interval = interval

            steps[order] = (plain, search, no_update)
            hooks[order] = hook
            # every timed step starts from the same weights and optimiser state (restored
            # outside the timing): a from-scratch detector trained again and again on one
            # batch drifts until its held-out gradient is not finite
            start = (copy.deepcopy(runner.model.state_dict()),
                     copy.deepcopy(runner.optim_wrapper.state_dict()))

            def reset(runner=runner, start=start):
                runner.model.load_state_dict(start[0])
                runner.optim_wrapper.load_state_dict(copy.deepcopy(start[1]))

            resets[order] = reset
        for _ in range(args.warmup):
            for order, step_fns in steps.items():
                for fn in step_fns:
                    resets[order]()
                    fn()
        # interleaved rounds: a load spike hits a pair, not a whole block of one kind
        times = {o: ([], [], []) for o in orders}
        for _ in range(args.repeats):
            for order, step_fns in steps.items():
                for kind, fn in enumerate(step_fns):
                    resets[order]()
                    times[order][kind].append(time_once(fn, args.device))
        skipped = {o: h.skipped_updates for o, h in hooks.items()}
        if any(skipped.values()):
            raise RuntimeError(f'policy updates were skipped while timing ({skipped}): the '
                               'timed search iterations did not do the full update')
        # every timed search iteration (and its warm-up runs) must have updated the policy:
        # one that did not (a warm-up epoch, search_begin > 0) would time a plain step
        updates = {o: h.updates for o, h in hooks.items()}
        expected = args.warmup + args.repeats
        if any(n != expected for n in updates.values()):
            raise RuntimeError(f'the timed search iterations updated the policy {updates} '
                               f'times, not {expected} each: they did not search (is '
                               f'learner.search_begin > 0 in the config?)')
        # the reward each candidate setting scored by ('auto' resolved for this model)
        candidate_rewards = {o: h.learner.estimator.reward for o, h in hooks.items()
                             if h.learner.estimator.name == 'candidates'}
        if candidate_rewards:
            print('candidate rewards: ' + ', '.join(f'{o}: {r}'
                                                    for o, r in candidate_rewards.items()))
        ratios, no_update_ratios = {}, {}
        for order, (t_plain, t_search, t_skip) in times.items():
            ratios[order] = statistics.median(s / p for p, s in zip(t_plain, t_search))
            no_update_ratios[order] = statistics.median(
                s / p for p, s in zip(t_plain, t_skip))
            print(f'{order:>6} order: plain {statistics.median(t_plain) * 1e3:8.1f} ms  '
                  f'search {statistics.median(t_search) * 1e3:8.1f} ms  '
                  f'ratio (median of {args.repeats} paired rounds) {ratios[order]:.2f}; '
                  f'iteration without update {statistics.median(t_skip) * 1e3:8.1f} ms, '
                  f'ratio {no_update_ratios[order]:.2f}')
        total, searched = args.epochs
        print(f'amortised cost per search iteration, (r + (n - 1) q) / n, and pretraining '
              f'end to end ({total} epochs, search in the first {searched}; the frozen-policy '
              'epochs also augment on the device, counted at q):')
        for order in orders:
            print(f'{order:>6} order: ' + amortised_cells(ratios[order],
                                                          no_update_ratios[order], total,
                                                          searched))
        # q scatters by about +-0.1 between runs around a plain step's cost; the same
        # estimate with q = 1 does not carry that scatter into the end-to-end figure
        print('the same with the iterations without an update at a plain step (q = 1):')
        for order in orders:
            print(f'{order:>6} order: ' + amortised_cells(ratios[order], 1.0, total,
                                                          searched))
        plain_ref = statistics.median(times[orders[0]][0])
        if args.profile:
            profile_search(steps[orders[0]][1], args.device, args.profile, orders[0])
        # batched ops alone
        from dada_mm.search.batched_ops import apply_sub_policies
        images = torch.stack(list(batch['inputs'])).to(args.device).float()
        b = images.shape[0]
        g = torch.Generator(device=args.device).manual_seed(0)
        op_idx = torch.randint(0, 15, (b, 2), generator=g, device=args.device)
        ones = torch.ones(b, 2, device=args.device)
        levels = torch.rand(b, 2, generator=g, device=args.device)
        centers = torch.rand(b, 2, 2, generator=g, device=args.device)
        t_ops = timed(lambda: apply_sub_policies(images, op_idx, ones, levels, ones,
                                                 centers), args.device, args.repeats,
                      args.warmup)
        print(f'batched ops: {b / t_ops:.0f} images/s at {tuple(images.shape[1:])} on '
              f'{args.device} ({t_ops / plain_ref:.3f}x of a plain iteration)')
    names = dict(second='second_order', first='first_order', candidates='candidates',
                 candidates4='candidates_4_images', candidates_dot='candidates_dot',
                 candidates4_dot='candidates_4_images_dot',
                 candidates_match='candidates_match',
                 candidates_match_all='candidates_match_all',
                 detector='detector_candidates')
    if args.out:
        from provenance import write_results
        write_results(args.out, made_by, args,
                      ratios={names[o]: ratios[o] for o in orders},
                      no_update_ratios={names[o]: no_update_ratios[o] for o in orders},
                      candidate_rewards={names[o]: r for o, r in candidate_rewards.items()},
                      times_s={names[o]: dict(zip(('plain', 'search', 'no_update'), t))
                               for o, t in times.items()})
    print(' '.join([f'{names[o]}_ratio={ratios[o]:.2f}' for o in orders]
                   + [f'{names[o]}_no_update_ratio={no_update_ratios[o]:.2f}'
                      for o in orders]))


if __name__ == '__main__':
    main()
