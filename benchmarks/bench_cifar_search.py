"""The paper's reduced CIFAR-10 search setting: wall time of a DADA search against plain
training of the same network on the same data, epochs and batches.

Setting (DADA, Li et al. 2020, reduced CIFAR-10): WRN-40-2, 4,000 training images of
32x32 split 50/50 into search-train and search-val (here generated: the built-in shapes
set of ``dada_mm/datasets/synthetic.py``, 8 classes x 500 images, written as PNG files in
mmpretrain's folder layout), 20 epochs, SGD + cosine. Two runs through an mmengine
``Runner`` exactly as ``tools/train.py`` runs them: **plain** (search-train only) and
**search** (the same + ``DADASearchHook`` with its defaults, held-out batches from
search-val). Data loading is included in both (``--workers`` loader processes). Reported:
the whole ``runner.train()`` time of each, the median epoch time of each (epochs after the
first, which carries start-up), and their ratios. Ratios, not absolute times, compare
across machines.

WRN-40-2 is not in mmpretrain: ``WideResNetCIFAR`` below (pre-activation basic blocks,
widths 16, 16k, 32k, 64k, depth 6n + 4; Zagoruyko & Komodakis) is registered in
mmpretrain's model registry. ``--device cpu`` hides CUDA from this process. Last line:
``key=value`` pairs.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def register_wrn():
    """Register ``WideResNetCIFAR`` (and the epoch timer hook) once per process."""
    import torch
    from mmengine.hooks import Hook
    from mmengine.model import BaseModule
    from mmengine.registry import HOOKS
    from mmpretrain.registry import MODELS
    from torch import nn

    if 'WideResNetCIFAR' in MODELS.module_dict:
        return

    class PreActBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            self.bn1 = nn.BatchNorm2d(cin)
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.shortcut = (None if cin == cout and stride == 1 else
                             nn.Conv2d(cin, cout, 1, stride, 0, bias=False))

        def forward(self, x):
            o = torch.relu(self.bn1(x))
            skip = x if self.shortcut is None else self.shortcut(o)
            o = self.conv1(o)
            o = self.conv2(torch.relu(self.bn2(o)))
            return o + skip

    @MODELS.register_module()
    class WideResNetCIFAR(BaseModule):
        """WRN-``depth``-``widen``: a 3x3 stem of 16 channels, three groups of
        (depth - 4) / 6 pre-activation basic blocks of 16k, 32k, 64k channels (strides 1,
        2, 2), then BN + ReLU. Returns a one-element tuple (mmpretrain's convention)."""

        def __init__(self, depth: int = 40, widen: int = 2, init_cfg=None):
            super().__init__(init_cfg=init_cfg)
            if (depth - 4) % 6:
                raise ValueError(f'WRN depth must be 6n + 4, got {depth}')
            n = (depth - 4) // 6
            widths = [16, 16 * widen, 32 * widen, 64 * widen]
            self.stem = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
            blocks, cin = [], widths[0]
            for g, stride in enumerate((1, 2, 2)):
                for i in range(n):
                    blocks.append(PreActBlock(cin, widths[g + 1], stride if i == 0 else 1))
                    cin = widths[g + 1]
            self.blocks = nn.Sequential(*blocks)
            self.bn = nn.BatchNorm2d(cin)
            self.out_channels = cin
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')

        def forward(self, x):
            return (torch.relu(self.bn(self.blocks(self.stem(x)))), )

    @HOOKS.register_module()
    class BenchEpochTimer(Hook):
        """Wall time of each training epoch (lowest priority: after the other hooks'
        epoch-end work, so the search hook's policy writing is inside the epoch)."""
        priority = 'LOWEST'

        def __init__(self):
            self.epochs, self._t = [], None

        @staticmethod
        def _sync():
            if torch.cuda.is_available():
                torch.cuda.synchronize()

        def before_train_epoch(self, runner):
            self._sync()
            self._t = time.perf_counter()

        def after_train_epoch(self, runner):
            self._sync()
            self.epochs.append(time.perf_counter() - self._t)


MEAN, STD = [125.3, 123.0, 113.9], [63.0, 62.1, 66.7]


def make_cfg(args, root: str, work_dir: str, search: bool):
    tag = uuid.uuid4().hex[:8]

    def loader(ann, pipeline, shuffle=True):
        return dict(batch_size=args.batch_size, num_workers=args.workers,
                    persistent_workers=args.workers > 0,
                    sampler=dict(type='DefaultSampler', shuffle=shuffle),
                    dataset=dict(type='CustomDataset', data_root=root, data_prefix='train',
                                 ann_file=f'meta/{ann}.txt', with_label=True,
                                 pipeline=pipeline))

    size = args.size
    train_pipeline = [dict(type='LoadImageFromFile'),
                      dict(type='RandomCrop', crop_size=size, padding=size // 8),
                      dict(type='RandomFlip', prob=0.5, direction='horizontal'),
                      dict(type='PackInputs')]
    val_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
    cfg = dict(
        default_scope='mmpretrain',
        work_dir=work_dir, experiment_name=f'bench_cifar_{tag}',
        model=dict(type='ImageClassifier',
                   data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=8,
                                          mean=MEAN, std=STD, to_rgb=True),
                   backbone=dict(type='WideResNetCIFAR', depth=args.depth,
                                 widen=args.widen),
                   neck=dict(type='GlobalAveragePooling'),
                   head=dict(type='LinearClsHead', num_classes=8,
                             in_channels=64 * args.widen,
                             loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
                             topk=(1, ))),
        # DARTS-style search optimiser (DADA builds on it): SGD 0.025, cosine, clip 5
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.025, momentum=0.9,
                                          weight_decay=3e-4),
                           clip_grad=dict(max_norm=5.0)),
        param_scheduler=dict(type='CosineAnnealingLR', T_max=args.epochs, by_epoch=True,
                             eta_min=1e-3),
        train_cfg=dict(by_epoch=True, max_epochs=args.epochs),
        train_dataloader=loader('search_train', train_pipeline),
        default_hooks=dict(timer=dict(type='IterTimerHook'),
                           logger=dict(type='LoggerHook', interval=10 ** 6),
                           param_scheduler=dict(type='ParamSchedulerHook'),
                           checkpoint=None,
                           sampler_seed=dict(type='DistSamplerSeedHook')),
        custom_hooks=[dict(type='BenchEpochTimer')],
        env_cfg=dict(cudnn_benchmark=True, dist_cfg=dict(backend='gloo')),
        visualizer=dict(type='UniversalVisualizer', name=f'vis_{tag}', vis_backends=[]),
        log_level='WARNING',
        randomness=dict(seed=0, deterministic=False),
    )
    if search:
        cfg['custom_hooks'].append(dict(type='DADASearchHook',
                                        val_dataloader=loader('search_val', val_pipeline)))
    return cfg


def run(args, root: str, work_dir: str, search: bool):
    from mmengine.config import Config
    from mmengine.runner import Runner
    runner = Runner.from_cfg(Config(make_cfg(args, root, work_dir, search)))
    t0 = time.perf_counter()
    runner.train()
    seconds = time.perf_counter() - t0
    hooks = {type(h).__name__: h for h in runner.hooks}
    epochs = hooks['BenchEpochTimer'].epochs
    out = dict(seconds=seconds, epoch_seconds=epochs, iters=runner.iter,
               device=str(next(runner.model.parameters()).device))
    if search:
        out['updates'] = hooks['DADASearchHook'].updates
        out['policy_file'] = osp.exists(osp.join(work_dir, 'dada_policy.json'))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='auto', choices=['auto', 'cuda', 'cpu'])
    parser.add_argument('--depth', type=int, default=40)
    parser.add_argument('--widen', type=int, default=2)
    parser.add_argument('--per-class', type=int, default=500,
                        help='training images per class (8 classes; 500: 4,000 images)')
    parser.add_argument('--size', type=int, default=32)
    parser.add_argument('--epochs', type=int, default=20)
    parser.add_argument('--batch-size', type=int, default=64,
                        help='training and held-out batch')
    parser.add_argument('--workers', type=int, default=-1,
                        help='loader processes per loader (-1: 4 on CUDA, 0 on CPU)')
    parser.add_argument('--threads', type=int, default=-1,
                        help='torch intra-op threads (-1: 1 on CPU, where a second thread '
                        'on a loaded 2-core machine slows every op; 0: leave as is)')
    parser.add_argument('--order', default='search-last', choices=['search-last',
                                                                   'search-first'])
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--json-out', default=None, help='write the results here too')
    args = parser.parse_args(argv)
    if args.device == 'cpu':
        os.environ['CUDA_VISIBLE_DEVICES'] = ''
    import torch
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda: torch sees no CUDA device')
    cuda = torch.cuda.is_available()
    if args.workers < 0:
        args.workers = 4 if cuda else 0
    threads = args.threads if args.threads >= 0 else (0 if cuda else 1)
    if threads:
        torch.set_num_threads(threads)
    import dada_mm  # noqa: F401  (registers DADASearchHook)
    from dada_mm.datasets.synthetic import make_classification_set
    register_wrn()
    name = torch.cuda.get_device_name(0) if cuda else 'cpu'
    print(f'reduced CIFAR-10 setting: WRN-{args.depth}-{args.widen}, 8 x {args.per_class} '
          f'generated {args.size}x{args.size} images (50/50 search-train / search-val), '
          f'{args.epochs} epochs, batch {args.batch_size}, {args.workers} loader workers, '
          f'device {name}, torch {torch.__version__} ({torch.get_num_threads()} threads)')
    work = args.work_dir or tempfile.mkdtemp(prefix='bench_cifar_')
    root = osp.join(work, 'shapes')
    t0 = time.perf_counter()
    make_classification_set(root, 8, args.per_class, 1, args.size, 0)
    print(f'data written in {time.perf_counter() - t0:.1f} s')
    order = (False, True) if args.order == 'search-last' else (True, False)
    res = {}
    for search in order:
        kind = 'search' if search else 'plain'
        res[kind] = run(args, root, osp.join(work, kind), search)
        e = res[kind]['epoch_seconds']
        print(f'{kind:>6}: {res[kind]["seconds"]:.1f} s, {res[kind]["iters"]} iterations, '
              f'median epoch {statistics.median(e[1:] or e):.2f} s'
              + (f', {res[kind]["updates"]} policy updates' if search else ''))
    med = {k: statistics.median(v['epoch_seconds'][1:] or v['epoch_seconds'])
           for k, v in res.items()}
    pairs = dict(search_vs_plain=res['search']['seconds'] / res['plain']['seconds'],
                 search_vs_plain_epoch=med['search'] / med['plain'],
                 search_seconds=res['search']['seconds'],
                 plain_seconds=res['plain']['seconds'],
                 updates=res['search']['updates'])
    if not args.work_dir:
        shutil.rmtree(work, ignore_errors=True)
    if args.json_out:
        with open(args.json_out, 'w') as f:
            json.dump(dict(args=vars(args), runs=res, **pairs), f, indent=1)
    print(' '.join(f'{k}={v}' if isinstance(v, int) else f'{k}={v:.2f}'
                   for k, v in pairs.items()))
    return pairs


if __name__ == '__main__':
    main()
