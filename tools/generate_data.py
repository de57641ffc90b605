"""Write the built-in synthetic data sets (deterministic) under data/."""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from dada_mm.datasets.synthetic import make_classification_set, make_coco_set  # noqa


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--root', default='data')
    parser.add_argument('--classes', type=int, default=6)
    parser.add_argument('--train-per-class', type=int, default=60)
    parser.add_argument('--test-per-class', type=int, default=20)
    parser.add_argument('--cls-size', type=int, default=64)
    parser.add_argument('--coco-train', type=int, default=60)
    parser.add_argument('--coco-val', type=int, default=20)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    cls = make_classification_set(osp.join(args.root, 'shapes'), args.classes,
                                  args.train_per_class, args.test_per_class,
                                  args.cls_size, args.seed)
    coco = make_coco_set(osp.join(args.root, 'shapes_coco'), min(args.classes, 4),
                         args.coco_train, args.coco_val, seed=args.seed)
    print('classification:', osp.join(args.root, 'shapes'), '->', sorted(cls))
    print('detection:', osp.join(args.root, 'shapes_coco'), '->', sorted(coco))


if __name__ == '__main__':
    main()
