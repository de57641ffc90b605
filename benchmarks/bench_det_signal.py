"""Does the detector's candidate reward rank the undoing op first? The detection twin of
``bench_signal.py``.

For each network state (the demo's small RetinaNet trained for ``--epochs`` epochs on the
clean training images of the built-in detection set, ``bench_det_policy.py``'s data and
schedule) and each planted shift (the held-out images inverted or darkened, as in
``bench_det_policy.py``):

1. v = the gradient of the detector's loss on ``--held-out-images`` shifted test images
   (eval mode, as the search's default ``held_out_norm='running'``);
2. the same ``--images`` training images are scored clean and under each of the 15 ops
   (the shift's undoing op at the shift's level, the others at ``--level``; a signed op
   takes a sign per image), each by the search's candidate score: the central finite
   difference of the image's own detector loss along v (``detection_finite_differences``,
   boxes squeezed under a pixel dropped as the search drops them). A larger value means a
   step on that image lowers the held-out loss more;
3. each op's paired difference to the clean image over the images: mean, standard error,
   t, and the undoing op's rank by t.

Prints one row per (state, shift) and writes every op's statistics to ``--out`` with the
provenance. Last line: ``key=value`` (in how many (state, shift) pairs the undoing op ranks
first).
"""
import argparse
import copy
import os.path as osp
import sys
import tempfile
import time
from typing import Dict, List

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import bench_det_policy as det_policy  # noqa: E402
import torch  # noqa: E402
from bench_signal import paired  # noqa: E402
from provenance import provenance, write_results  # noqa: E402


def trained_detector(args, root: str, epochs: int, work: str):
    """A runner whose model trained ``epochs`` epochs on the clean training images."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    import dada_mm  # noqa: F401
    state = argparse.Namespace(**dict(vars(args), epochs=epochs))
    cfg = det_policy.retrain_cfg(state, root, 'natural', args.seed, 'none',
                                 osp.join(work, f'train_{epochs}'), None)
    for key in ('test_dataloader', 'test_cfg', 'test_evaluator'):
        cfg.pop(key, None)
    runner = Runner.from_cfg(Config(cfg))
    runner.train()
    return runner


def scored_images(runner, n: int):
    """The first ``n`` training images of the runner's loader, and their data samples."""
    images, samples = [], []
    for batch in runner.train_dataloader:
        images += list(batch['inputs'])
        samples += list(batch['data_samples'])
        if len(images) >= n:
            break
    if len(images) < n:
        raise ValueError(f'--images {n} is more than the {len(images)} training images')
    return images[:n], samples[:n]


def held_out_batch(runner, root: str, shift: str, n: int, size) -> Dict:
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                dict(type='Resize', scale=tuple(size[::-1]), keep_ratio=True),
                dict(type='PackDetInputs')]
    loader = det_policy._loader(
        det_policy._dataset(root, 'val2017', f'val2017_{shift}', pipeline), n, False)
    return next(iter(runner.build_dataloader(loader)))


def score_shift(runner, images, samples, val_batch, shift: str, args) -> Dict:
    """Every op's paired statistics against the clean image, for one shift."""
    from dada_mm.ops.batched_detection import augment_det_data_samples
    from dada_mm.search.bilevel import global_norm, trainable_parameters
    from dada_mm.search.detection import (
        detection_finite_differences,
        detector_validation_gradient,
        drop_small_boxes,
    )
    from dada_mm.search_space.ops import OP_NAMES
    model = runner.model
    params = trainable_parameters(model)
    v, val_loss = detector_validation_gradient(model, val_batch, params, norm='running')
    radius = args.fd_epsilon / float(global_norm(v))
    weights = {n: p.detach().clone() for n, p in params.items()}
    undo, undo_level = det_policy.SHIFT_OPS[shift]
    gen = torch.Generator().manual_seed(args.seed + 1)
    n = len(images)

    def score(name: str) -> torch.Tensor:
        boxes = [copy.deepcopy(s) for s in samples]
        if name == 'clean':
            inputs = [x.float() for x in images]
            drop_small_boxes(boxes)  # as every op's copy: the pairs differ by the op alone
        else:
            op = OP_NAMES.index(name)
            level = undo_level if name == undo and undo_level is not None else args.level
            signs = (torch.randint(0, 2, (n, 2), generator=gen) * 2 - 1).float()
            inputs = augment_det_data_samples(
                images, boxes, torch.tensor([[op, op]] * n), torch.tensor([[1.0, 0.0]] * n),
                torch.full((n, 2), float(level)), signs=signs)
            drop_small_boxes(boxes)
        return detection_finite_differences(model, weights, v, radius, inputs, boxes)

    clean = score('clean')
    ops = {name: paired(score(name) - clean) for name in OP_NAMES}
    order = sorted(ops, key=lambda o: -ops[o]['t'])
    return dict(shift=shift, undo_op=undo, undo_level=undo_level, held_out_loss=val_loss,
                rank=order.index(undo) + 1, undo=ops[undo], top_op=order[0],
                top_t=ops[order[0]]['t'], order=order, ops=ops)


def report(results: List[Dict]) -> Dict[str, str]:
    print('\n| detector epochs | shift | undoing op | rank of 15 | t | first op (t) |')
    print('|---|---|---|---|---|---|')
    for r in results:
        print(f"| {r['epochs']} | {r['shift']} | {r['undo_op']} | {r['rank']} | "
              f"{r['undo']['t']:.2f} | {r['top_op']} ({r['top_t']:.1f}) |")
    first = sum(r['rank'] == 1 for r in results)
    return dict(undo_first=f'{first}/{len(results)}')


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--variants', nargs='+', default=list(det_policy.SHIFT_OPS),
                        choices=list(det_policy.SHIFT_OPS))
    parser.add_argument('--epochs', type=int, nargs='+', default=[8, 24],
                        help='network states: the detector trained this many epochs')
    parser.add_argument('--images', type=int, default=32, help='scored training images')
    parser.add_argument('--held-out-images', type=int, default=20)
    parser.add_argument('--level', type=float, default=0.7,
                        help="level of every op except the shift's undoing op")
    parser.add_argument('--fd-epsilon', type=float, default=0.01,
                        help='finite-difference radius times |v| (the search default)')
    parser.add_argument('--train-images', type=int, default=200)
    parser.add_argument('--test-images', type=int, default=40)
    parser.add_argument('--size', type=int, nargs=2, default=(128, 160), metavar=('H', 'W'))
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--data-seed', type=int, default=0)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--out', default=None)
    args = parser.parse_args(argv)
    if args.held_out_images > args.test_images:
        parser.error(f'--held-out-images {args.held_out_images} is more than the '
                     f'--test-images {args.test_images} it is drawn from')
    made_by = provenance('benchmarks/bench_det_signal.py', sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    work = args.work_dir or tempfile.mkdtemp(prefix='bench_det_signal_')
    root = osp.join(work, 'shapes')
    det_policy.make_data(root, args)
    results = []
    for epochs in sorted(args.epochs):
        runner = trained_detector(args, root, epochs, work)
        images, samples = scored_images(runner, args.images)
        for shift in args.variants:
            val_batch = held_out_batch(runner, root, shift, args.held_out_images, args.size)
            row = score_shift(runner, images, samples, val_batch, shift, args)
            results.append(dict(row, epochs=epochs))
            print(f"{epochs} epoch(s), {shift}: {row['undo_op']} rank {row['rank']}, "
                  f"t {row['undo']['t']:.2f}", flush=True)
    pairs = report(results)
    print(f'total wall time {time.perf_counter() - t0:.0f} s')
    if args.out:
        write_results(args.out, made_by, args, results=results)
    print(' '.join(f'{k}={v}' for k, v in pairs.items()))
    return dict(results=results, pairs=pairs)


if __name__ == '__main__':
    main()
