"""Draw a DADA policy (or a detection policy of Zoph et al.) applied to your own image.

    python tools/vis_policy.py POLICY_OR_PRESET IMAGE [--boxes x1,y1,x2,y2 ...]
                               [--out policy_vis.png] [--samples 8] [--top-k 5] [--seed 0]
                               [--box-color green] [--box-thickness 1]

POLICY_OR_PRESET is a preset name (``dada-imagenet``, ``dada-cifar10``, ...,
``zoph-det-v0`` ... ``zoph-det-v3``) or a policy file (e.g. the ``dada_policy.json`` a
search wrote). Rows are the first ``--top-k`` sub-policies, columns the input followed by
``--samples`` random draws of that sub-policy through ``DADAAugment`` (the training
transform itself). Under each draw is written which ops fired in it, each with its
magnitude m (the published level L for a detection policy), or "no op fired". Boxes
(pixels of the input image) are moved by the geometric ops exactly as in a detection
pipeline and drawn in ``--box-color`` (a name or R,G,B), ``--box-thickness`` pixels wide;
the box-only ops of detection policies act inside them. Next to the PNG, ``<out>.json``
records every cell: where it is in the picture, its scale, the applied ops, the caption
and the moved boxes.
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import cv2  # noqa: E402

from dada_mm.policy import PolicyError, policy_op_family, resolve_policy  # noqa: E402
from dada_mm.visualization import build_visualizer, policy_sample_grid, save_image  # noqa: E402


def parse_box(text):
    try:
        values = [float(v) for v in text.split(',')]
    except ValueError:
        values = []
    if len(values) != 4 or not (values[2] > values[0] and values[3] > values[1]):
        raise argparse.ArgumentTypeError(
            f'a box is x1,y1,x2,y2 with x2 > x1 and y2 > y1, got {text!r}')
    return values


# RGB, as users write colours (OpenCV draws in BGR)
BOX_COLORS = dict(green=(0, 255, 0), red=(255, 0, 0), blue=(0, 0, 255),
                  yellow=(255, 255, 0), cyan=(0, 255, 255), magenta=(255, 0, 255),
                  white=(255, 255, 255), black=(0, 0, 0), orange=(255, 165, 0))
MAX_BOX_THICKNESS = 20


def parse_box_color(text):
    """A colour name of ``BOX_COLORS`` or R,G,B (each 0..255) -> (R, G, B)."""
    name = text.strip().lower()
    if name in BOX_COLORS:
        return BOX_COLORS[name]
    try:
        values = [int(v) for v in text.split(',')]
    except ValueError:
        values = []
    if len(values) != 3 or not all(0 <= v <= 255 for v in values):
        raise argparse.ArgumentTypeError(
            f'expected one of {", ".join(BOX_COLORS)} or R,G,B with each 0..255, '
            f'got {text!r}')
    return tuple(values)


def parse_box_thickness(text):
    """Line width of the boxes in pixels of the picture: an integer 1..20."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 1 <= value <= MAX_BOX_THICKNESS:
        raise argparse.ArgumentTypeError(
            f'expected an integer from 1 to {MAX_BOX_THICKNESS} (pixels), got {text!r}')
    return value


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('policy', help='preset name or policy file')
    p.add_argument('image', help='image file (any format OpenCV reads)')
    p.add_argument('--boxes', nargs='+', type=parse_box, default=None,
                   metavar='X1,Y1,X2,Y2', help='boxes in the input image (pixels)')
    p.add_argument('--out', default='policy_vis.png', help='output PNG')
    p.add_argument('--samples', type=int, default=8, help='random draws per sub-policy')
    p.add_argument('--top-k', type=int, default=5, help='sub-policies to show (rows)')
    p.add_argument('--seed', type=int, default=0, help='seed of the draws')
    p.add_argument('--cell', type=int, default=160,
                   help='size of one picture in the grid (longer side, pixels)')
    p.add_argument('--box-color', type=parse_box_color, default=BOX_COLORS['green'],
                   metavar='NAME|R,G,B',
                   help=f'colour of the boxes: {", ".join(BOX_COLORS)}, or R,G,B '
                        '(each 0..255; default: green)')
    p.add_argument('--box-thickness', type=parse_box_thickness, default=1, metavar='PX',
                   help='line width of the boxes in pixels of the picture, drawn inside '
                        f'the box: 1 to {MAX_BOX_THICKNESS} (default: 1)')
    p.add_argument('--vis-dir', default=None,
                   help='also send the picture to an MMEngine LocalVisBackend here')
    args = p.parse_args(argv)
    if args.samples < 1 or args.top_k < 1 or args.cell < 8:
        p.error('--samples and --top-k must be >= 1, --cell >= 8')
    return args


def main(argv=None):
    args = parse_args(argv)
    img = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if img is None:
        print(f'vis_policy: error: cannot read image {args.image!r}', file=sys.stderr)
        return 1
    h, w = img.shape[:2]
    for box in args.boxes or []:
        if box[0] < 0 or box[1] < 0 or box[2] > w or box[3] > h:
            print(f'vis_policy: warning: box {box} reaches outside the {w}x{h} image; '
                  'it is clipped after each geometric op', file=sys.stderr)
    try:
        family = policy_op_family(resolve_policy(args.policy))
        if family != 'dada' and not args.boxes:
            print(f'vis_policy: note: {args.policy!r} is a {family!r} policy; its box-only '
                  'ops act inside --boxes, and none were given', file=sys.stderr)
        grid, layout = policy_sample_grid(
            args.policy, [img], boxes=None if args.boxes is None else [args.boxes],
            top_k=args.top_k, draws=args.samples, seed=args.seed, cell=args.cell,
            box_colour=args.box_color[::-1], box_thickness=args.box_thickness,
            title=f'{osp.basename(args.policy)} on {osp.basename(args.image)} '
                  f'(seed {args.seed})')
    except PolicyError as e:
        print(f'vis_policy: error: {e}', file=sys.stderr)
        return 1
    visualizer = build_visualizer(args.vis_dir) if args.vis_dir else None
    save_image(grid, args.out, visualizer, 'policy_vis')
    side = osp.splitext(args.out)[0] + '.json'
    with open(side, 'w') as f:
        json.dump(dict(policy=args.policy, image=args.image, image_size=[w, h],
                       input_boxes=args.boxes, box_color=list(args.box_color),
                       box_thickness=args.box_thickness, seed=args.seed, cells=layout),
                  f, indent=1)
    print(f'vis_policy: wrote {args.out} ({grid.shape[1]}x{grid.shape[0]}) and {side}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
