"""The policy-benchmark tables of docs/benchmarks.md, generated from committed results files.

A table in a markdown file is a block between two comments::

    <!-- policy-table: accuracy benchmarks/results/a.json -->
    | ... generated rows ... |
    <!-- /policy-table -->

The first word after ``policy-table:`` is the kind of table, the rest are ``bench_policy.py``
results files (``--out`` JSON), each optionally followed by ``=LABEL`` (the column name in a
comparison). Kinds:

* ``accuracy``: top-1 % per (variant, arm), mean ± std over seeds, per seed, gain vs none
  (a file's label, when given, leads its arms' names);
* ``found``: per planted shift and file, how many seeds found the undoing op
  (``bench_policy.planted_found``) and the op's selection ratio per seed; the rows are the
  first file's shifts, and each total counts those rows only;
* ``searches``: one row per search: selection ratio, in top 25, mean p and level, seconds;
* ``paired``: per variant, the ``searched`` arm minus the ``unweighted`` arm seed by seed
  (the same search's file drawn by its selection weights and with equal chance);
* ``provenance``: per file, the commit, whether the tree was clean and the command;
* ``detection``: a ``bench_det_policy.py`` file: bbox mAP per (variant, arm) and the
  undoing op's statistics per search;
* ``detection_signal``: ``bench_det_signal.py`` files: the undoing op's rank per detector
  state and shift;
* ``lookahead_signal``: ``bench_lookahead_signal.py`` files (each labelled): the undoing
  op's rank (its t; the first op otherwise) per BatchNorm mode and shift, one column per
  file and network state.

``python benchmarks/policy_tables.py --update docs/benchmarks.md`` rewrites every block from
its files; ``--check`` exits 1 when a block differs from what its files give (the tests run
it), so a table can only show what a committed results file holds.
"""
import argparse
import json
import math
import os.path as osp
import re
import sys
from typing import Dict, List, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from bench_policy import PLANTED_ARMS, mean_std, planted_found, search_init  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
BLOCK = re.compile(r'(<!-- policy-table: (?P<spec>[^>]*?) -->\n)(?P<body>.*?)'
                   r'(<!-- /policy-table -->)', re.S)
ARM_NAMES = {
    'none': 'none (crop only)',
    'start': "start (the search's starting point: 105 sub-policies, p = m = 0.5)",
    'trivialaugment': 'TrivialAugment (mmpretrain RandAugment, 1 op, uniform magnitude)',
    'randaugment': 'RandAugment (mmpretrain, rand-m9-mstd0.5, 2 ops)',
    'dada-cifar10': "dada-cifar10 (the paper's published CIFAR-10 policy)",
    'searched': "searched (the search's top-25 policy)",
    'random25': "random 25 (25 of the search's sub-policies drawn at random, learnt p and levels)",
    'unweighted': "unweighted (the search's policy, its sub-policies drawn with equal chance)",
    'op': 'the undoing op alone (p 0.5, the shift\'s level)',
}


def load(path: str) -> Dict:
    with open(osp.join(ROOT, path)) as f:
        data = json.load(f)
    for key in ('provenance', 'args', 'results'):
        if key not in data:
            raise ValueError(f'{path}: not a bench_policy.py results file with provenance '
                             f'(no {key!r} key)')
    return data


def _variants(data: Dict) -> List[str]:
    return list(data['args']['variants'])


def _arm_rows(variant: str, rows: Sequence[Dict], arms: Sequence[str], metric: str,
              names: Dict[str, str]) -> List[str]:
    """One table row per arm with results: 100 x ``metric`` mean ± std over the seeds, the
    per-seed values, and the gain over the arm ``none`` (blank without it)."""
    none = mean_std([100 * r[metric] for r in rows if r['arm'] == 'none'])[0]
    lines = []
    for arm in arms:
        values = [100 * r[metric] for r in rows if r['arm'] == arm]
        if not values:
            continue
        m, sd = mean_std(values)
        gain = '' if arm == 'none' or math.isnan(none) else f'{m - none:+.2f}'
        lines.append(f'| {variant} | {names.get(arm, arm)} | {m:.2f} ± {sd:.2f} | '
                     f'{", ".join(f"{v:.2f}" for v in values)} | {gain} |')
    return lines


def arm_names(data: Dict) -> Dict[str, str]:
    """``ARM_NAMES`` with the start arm's p and levels as the file's search began, and the
    searched arm's size (the hook's ``top_k``) and draw (by the exported selection weights
    or with equal chance)."""
    init = search_init(data['args'].get('hook_options'))
    top_k = (data['args'].get('hook_options') or {}).get('top_k', 25)
    prob, level = init.get('prob', 0.5), init.get('magnitude', 0.5)
    start = (f'p = m = {prob:g}' if prob == level else f'p = {prob:g}, m = {level:g}')
    if init.get('signed_magnitude') is not None:
        start += f', the signed ops at m = {init["signed_magnitude"]:g}'
    # (a search that did not record its export weighting drew its file with equal chances)
    weighted = any(r.get('export_weighting') == 'selection' for r in data.get('results', ())
                   if r.get('kind') == 'search')
    drawn = ', drawn by its selection weights' if weighted else ''
    return dict(ARM_NAMES, start=f"start (the search's starting point: 105 sub-policies, "
                                 f'{start})',
                searched=f"searched (the search's top-{top_k} policy{drawn})")


def accuracy_table(files: Sequence[Tuple[str, str]]) -> str:
    lines = ['| variant | arm | top-1 % (mean ± std) | per seed | vs none |',
             '|---|---|---|---|---|']
    for path, label in files:
        data = load(path)
        retrains = [r for r in data['results'] if r['kind'] == 'retrain']
        names = arm_names(data)
        if label:  # a labelled file (a comparison of settings): the label leads each arm
            names = {arm: f'{label}: {name}' for arm, name in names.items()}
        for variant in _variants(data):
            rows = sorted((r for r in retrains if r['variant'] == variant),
                          key=lambda r: r['seed'])
            arms = [a for a in data['args']['arms']
                    if variant == 'natural' or a in PLANTED_ARMS]
            lines += _arm_rows(variant, rows, arms, 'top1', names)
    return '\n'.join(lines)


def paired_table(files: Sequence[Tuple[str, str]]) -> str:
    """The ``searched`` arm minus the ``unweighted`` arm, seed by seed (the two retrain on
    the same search's file, drawn by its selection weights or with equal chance): the mean
    difference ± its standard error, how many seeds it is above 0, and each seed's."""
    lines = ['| setting | variant | searched - unweighted (mean ± s.e.) | seeds above 0 | '
             'per seed |', '|---|---|---|---|---|']
    for path, label in files:
        data = load(path)
        retrains = [r for r in data['results'] if r['kind'] == 'retrain']
        for variant in _variants(data):
            by_arm = {arm: {r['seed']: 100 * r['top1'] for r in retrains
                            if r['variant'] == variant and r['arm'] == arm}
                      for arm in ('searched', 'unweighted')}
            seeds = sorted(set(by_arm['searched']) & set(by_arm['unweighted']))
            if not seeds:
                continue
            diffs = [by_arm['searched'][s] - by_arm['unweighted'][s] for s in seeds]
            m, sd = mean_std(diffs)
            se = sd / math.sqrt(len(diffs))
            lines.append(f'| {label or osp.basename(path)} | {variant} | {m:+.2f} ± {se:.2f} | '
                         f'{sum(d > 0 for d in diffs)} of {len(diffs)} | '
                         f'{", ".join(f"{d:+.2f}" for d in diffs)} |')
    return '\n'.join(lines)


def _searches(data: Dict, variant: str) -> List[Dict]:
    return sorted((r for r in data['results']
                   if r['kind'] == 'search' and r['variant'] == variant),
                  key=lambda r: r['seed'])


def found_table(files: Sequence[Tuple[str, str]]) -> str:
    loaded = [(load(p), label or osp.basename(p)) for p, label in files]
    variants = [v for v in _variants(loaded[0][0]) if v != 'natural']
    head = '| shift (op) | ' + ' | '.join(
        f'{label}: found / selection ratio per seed' for _, label in loaded) + ' |'
    lines = [head, '|---|' + '---|' * len(loaded)]
    for variant in variants:
        cells, op = [], None
        for data, _ in loaded:
            runs = _searches(data, variant)
            if not runs:
                cells.append('(not run)')
                continue
            (op, _), = runs[0]['ops'].items()
            found = sum(planted_found(r) for r in runs)
            ratios = ', '.join(f"{r['ops'][op]['selection_ratio']:.2f}" for r in runs)
            cells.append(f'{found} / {len(runs)} ({ratios})')
        lines.append(f'| {variant} ({op}) | ' + ' | '.join(cells) + ' |')
    totals = []
    for data, _ in loaded:
        runs = [r for r in data['results'] if r['kind'] == 'search' and r['variant'] in variants]
        totals.append(f'**{sum(planted_found(r) for r in runs)} / {len(runs)}**')
    lines.append('| all shifts | ' + ' | '.join(totals) + ' |')
    return '\n'.join(lines)


def searches_table(files: Sequence[Tuple[str, str]]) -> str:
    lines = ['| setting | shift | seed | op | found | selection ratio | in top 25 (chance) | '
             'mean p | mean level (shift\'s) | search s |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for path, label in files:
        data = load(path)
        for variant in _variants(data):
            for r in _searches(data, variant):
                for op, info in r['ops'].items():
                    target = info.get('target_level')
                    if variant == 'natural':
                        level, found = f"{info['mean_magnitude']:.2f}", ''
                    else:
                        level = ('(no level)' if target is None else
                                 f"{info['mean_magnitude']:.2f} ({target:.2f})")
                        found = 'yes' if planted_found(r) else 'no'
                    lines.append(
                        f"| {label or osp.basename(path)} | {variant} | {r['seed']} | {op} | "
                        f"{found} | {info['selection_ratio']:.2f} | {info['in_top25']} "
                        f"({info['in_top25_chance']:.1f}) | {info['mean_prob']:.2f} | {level} | "
                        f"{r['seconds']:.0f} |")
    return '\n'.join(lines)


def provenance_table(files: Sequence[Tuple[str, str]]) -> str:
    lines = ['| file | commit | tree | command |', '|---|---|---|---|']
    for path, _ in files:
        made = load(path)['provenance']
        tree = 'clean' if made.get('dirty') is False else 'with changes'
        lines.append(f"| `{osp.basename(path)}` | {str(made.get('commit'))[:7]} | {tree} | "
                     f"`{made.get('command')}` |")
    return '\n'.join(lines)


DETECTION_ARMS = {
    'none': 'none (no policy)', 'searched': "searched (the search's top-25 policy)",
    'dada-imagenet': "dada-imagenet (the paper's ImageNet policy)",
    'zoph-det-v0': "zoph-det-v0 (Zoph et al.'s detection policy)",
    'op': 'op (the undoing op alone, p 0.5)'}


def detection_table(files: Sequence[Tuple[str, str]]) -> str:
    """``bench_det_policy.py`` files: bbox mAP x 100 per (variant, arm) (none for
    ``--search-only`` files), then the undoing op's statistics per search (planted variants:
    found or not)."""
    lines = ['| variant | arm | bbox mAP x 100 (mean ± std) | per seed | vs none |',
             '|---|---|---|---|---|']
    searches = ['| variant | seed | op | found | selection ratio | in top 25 (chance) | '
                'mean p | mean m | search s |', '|---|---|---|---|---|---|---|---|---|']
    for path, _ in files:
        data = load(path)
        for variant in _variants(data):
            rows = sorted((r for r in data['results'] if r['kind'] == 'retrain'
                           and r['variant'] == variant), key=lambda r: r['seed'])
            lines += _arm_rows(variant, rows, data['args']['arms'], 'bbox_map',
                               DETECTION_ARMS)
            for r in _searches(data, variant):
                for op, info in r['ops'].items():
                    found = '' if variant == 'natural' else (
                        'yes' if planted_found(dict(r, ops={op: info})) else 'no')
                    searches.append(
                        f"| {variant} | {r['seed']} | {op} | {found} | "
                        f"{info['selection_ratio']:.2f} | {info['in_top25']} "
                        f"({info['in_top25_chance']:.1f}) | {info['mean_prob']:.2f} | "
                        f"{info['mean_magnitude']:.2f} | {r['seconds']:.0f} |")
    return '\n'.join((lines + [''] if len(lines) > 2 else []) + searches)


def detection_signal_table(files: Sequence[Tuple[str, str]]) -> str:
    """``bench_det_signal.py`` files: the undoing op's rank among the 15 ops (bold when
    first), its paired t, and the op ranked first, per (detector state, shift)."""
    lines = ['| detector trained (epochs) | shift (undoing op) | rank of 15 (t) | '
             'first op (t) |', '|---|---|---|---|']
    for path, _ in files:
        for r in load(path)['results']:
            rank = f"**{r['rank']}**" if r['rank'] == 1 else str(r['rank'])
            lines.append(f"| {r['epochs']} | {r['shift']} ({r['undo_op']}) | {rank} "
                         f"({r['undo']['t']:.1f}) | {r['top_op']} ({r['top_t']:.1f}) |")
    return '\n'.join(lines)


def lookahead_signal_table(files: Sequence[Tuple[str, str]]) -> str:
    """``bench_lookahead_signal.py`` files, each labelled (files of one label, e.g. one
    seed run in two BN modes, share its columns): per (BN mode and trial lr, shift) the
    undoing op's rank among the 15 (bold when first) and its t, with the first op and its
    t where another leads; one column per (label, network state)."""
    data = [(load(path), label) for path, label in files]
    columns = list(dict.fromkeys((label, r['epochs']) for d, label in data
                                 for r in d['results']))
    modes = list(dict.fromkeys((r['bn_mode'], d['args']['trial_lr']) for d, _ in data
                               for r in d['results']))
    undo = {r['shift']: r['undo_op'] for d, _ in data for r in d['results']}
    lines = ['| BN (trial lr) | shift (undoing op) | ' + ' | '.join(
        f'{label}, {e} ep' for label, e in columns) + ' |',
        '|---|---|' + '---|' * len(columns)]
    for mode, lr in modes:
        for shift in undo:
            cells = []
            for label, e in columns:
                rows = [r for d, lab in data if lab == label and d['args']['trial_lr'] == lr
                        for r in d['results'] if r['bn_mode'] == mode
                        and r['shift'] == shift and r['epochs'] == e]
                if not rows:
                    cells.append('')
                    continue
                r = rows[0]
                t, top_t = r['undo']['t'], r['top_t']
                if math.isnan(t):  # its SGD diverged (or the op never changed the loss)
                    cells.append('no finite t')
                elif r['rank'] == 1:
                    cells.append(f'**1** ({t:.1f})')
                else:
                    top = 'no finite t' if math.isnan(top_t) else f'{top_t:.1f}'
                    cells.append(f"{r['rank']} ({t:.1f}; {r['top_op']} {top})")
            if any(cells):
                lines.append(f'| {mode} ({lr:g}) | {shift} ({undo[shift]}) | '
                             + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


TABLES = dict(accuracy=accuracy_table, found=found_table, searches=searches_table,
              paired=paired_table,
              provenance=provenance_table, detection=detection_table,
              detection_signal=detection_signal_table,
              lookahead_signal=lookahead_signal_table)


def parse_spec(spec: str) -> Tuple[str, List[Tuple[str, str]]]:
    kind, *items = spec.split()
    if kind not in TABLES:
        raise ValueError(f'policy-table kind {kind!r}: must be one of {list(TABLES)}')
    if not items:
        raise ValueError(f'policy-table {kind}: no results file given')
    files = []
    for item in items:
        path, _, label = item.partition('=')
        files.append((path, label.replace('_', ' ')))
    return kind, files


def render(spec: str) -> str:
    kind, files = parse_spec(spec)
    return TABLES[kind](files) + '\n'


def blocks(text: str) -> List[Tuple[str, str, str]]:
    """(spec, body in the file, body the files give) of every table block."""
    return [(m['spec'], m['body'], render(m['spec'])) for m in BLOCK.finditer(text)]


def update(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + render(m['spec']) + m.group(4), text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('markdown', nargs='+', help='markdown files holding table blocks')
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument('--update', action='store_true', help='rewrite the blocks in place')
    mode.add_argument('--check', action='store_true',
                      help='exit 1 when a block differs from its files')
    args = parser.parse_args(argv)
    stale = []
    for path in args.markdown:
        with open(path) as f:
            text = f.read()
        if args.update:
            new = update(text)
            if new != text:
                with open(path, 'w') as f:
                    f.write(new)
                print(f'{path}: tables updated')
        else:
            stale += [f'{path}: policy-table {spec}' for spec, body, want in blocks(text)
                      if body != want]
    for line in stale:
        print(f'stale: {line}')
    return 1 if stale else 0


if __name__ == '__main__':
    sys.exit(main())
