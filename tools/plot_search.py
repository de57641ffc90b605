"""Draw how a DADA search moved its policy, from the history the search wrote.

    python tools/plot_search.py WORK_DIR/dada_search_history.json [--out DIR] [--top 5]

``DADASearchHook`` writes ``dada_search_history.json`` to the work_dir at the end of every
search epoch: the selection weights softmax(alpha) of all 105 sub-policies and their ops'
apply probabilities p and magnitudes m. This draws, into ``--out`` (default: the history's
folder):

* ``search_weights.png``: the selection weight of each of the ``--top`` final sub-policies
  per search epoch, the range of all the others, and the final weights of all of them,
  sorted, with their entropy;
* ``search_probs_magnitudes.png``: p and m of both ops of the ``--top`` final sub-policies
  per search epoch.

``--vis-dir`` also sends both pictures to an MMEngine ``LocalVisBackend`` there.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from dada_mm.visualization import (  # noqa: E402
    build_visualizer,
    load_search_history,
    plot_probs_magnitudes,
    plot_search_weights,
    save_image,
)

FIGURES = ('search_weights.png', 'search_probs_magnitudes.png')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('history', help='dada_search_history.json written by DADASearchHook')
    p.add_argument('--out', default=None,
                   help="folder of the PNG files (default: the history's folder)")
    p.add_argument('--top', type=int, default=5,
                   help='sub-policies drawn one by one: the top ones by final selection '
                        'weight (default: 5)')
    p.add_argument('--vis-dir', default=None,
                   help='also send the pictures to an MMEngine LocalVisBackend here')
    args = p.parse_args(argv)
    if args.top < 1:
        p.error(f'--top must be >= 1, got {args.top}')
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        history = load_search_history(args.history)
    except FileNotFoundError:
        print(f'plot_search: error: no such file: {args.history}', file=sys.stderr)
        return 1
    except (OSError, UnicodeDecodeError) as e:
        print(f'plot_search: error: cannot read {args.history}: {e}', file=sys.stderr)
        return 1
    except ValueError as e:
        print(f'plot_search: error: {e}', file=sys.stderr)
        return 1
    if not history['epochs']:
        print(f'plot_search: error: {args.history}: no search epoch recorded yet '
              '("epochs" is empty): nothing to draw', file=sys.stderr)
        return 1
    out = args.out if args.out is not None else osp.dirname(osp.abspath(args.history))
    visualizer = build_visualizer(args.vis_dir) if args.vis_dir else None
    weights, probs = (osp.join(out, name) for name in FIGURES)
    save_image(plot_search_weights(history, top=args.top), weights, visualizer,
               'search_weights')
    save_image(plot_probs_magnitudes(history, top=args.top), probs, visualizer,
               'search_probs_magnitudes')
    last = history['epochs'][-1]
    print(f'plot_search: {len(history["epochs"])} search epoch(s) (the last: epoch '
          f'{last["epoch"]}); wrote {weights} and {probs}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
