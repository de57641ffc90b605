"""Driver of ``benchmarks/gpu_check.sh``: runs the search-cost checks one after another, each
in its own process with a time limit, and writes ONE results file (JSON).

Sections (full sizes for a CUDA machine; ``--small``: tiny sizes, for a CPU smoke run):

* ``bench_search``: ``benchmarks/bench_search.py``, ResNet-50 (standard width), 224 px,
  batch 64, both orders (second / first): search iteration / plain iteration.
* ``batched_ops``: ``benchmarks/bench_batched_ops.py``, batch 128 at 224x224: images/s of
  the batched DADA ops against kornia and torchvision v2 (forward, forward+backward).
* ``cifar_search``: ``benchmarks/bench_cifar_search.py``, the paper's reduced CIFAR-10
  setting (WRN-40-2, 4,000 generated 32x32 images, 20 epochs): search / plain training.

Each section is recorded as ``status`` ``ran`` (with its ``results``: the numbers of the
script's last line), ``failed`` (with ``reason``: exit code, time-out or missing numbers,
and the end of its output) or ``skipped`` (with ``reason``); ``not_run`` lists everything
that did not run, peers included. In each section's process ``mmdet`` is hidden (as on a
GPU machine without it; ``--keep-mmdet`` leaves it) and the imports that asked for it, and
whether ``mmcv.ops`` / ``mmcv._ext`` were loaded, are recorded.

Exit status: 0 when every section ran, 1 otherwise (the results file is written either way).
"""
import argparse
import datetime
import importlib.abc
import importlib.util
import json
import math
import os
import os.path as osp
import platform
import subprocess
import sys
import tempfile
import time
import traceback

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from provenance import provenance  # noqa: E402  (benchmarks/provenance.py)

SECTIONS = ('bench_search', 'batched_ops', 'cifar_search')
SCRIPTS = dict(bench_search='bench_search.py', batched_ops='bench_batched_ops.py',
               cifar_search='bench_cifar_search.py')
# numbers that must be present, finite and positive for a section to count as run
REQUIRED = dict(bench_search=('second_order_ratio', 'first_order_ratio'),
                batched_ops=('ours_images_per_s', 'vs_best_peer'),
                cifar_search=('search_vs_plain', 'search_vs_plain_epoch', 'updates'))


def section_argv(name: str, device: str, small: bool):
    """(argv, time limit in s) of a section."""
    if name == 'bench_search':
        if small:
            return ['--device', device, '--crop', '32', '--batch-size', '4', '--repeats', '1',
                    '--warmup', '1', '--threads', '1'], 120
        argv = ['--device', device, '--backbone', 'resnet50', '--crop', '224',
                '--batch-size', '64', '--repeats', '15', '--warmup', '3']
        return argv + (['--threads', '1'] if device == 'cpu' else []), 180
    if name == 'batched_ops':
        if small:
            return ['--device', device, '--batch-size', '8', '--size', '32', '--repeats', '1',
                    '--warmup', '1'], 90
        return ['--device', device, '--batch-size', '128', '--size', '224', '--repeats', '5',
                '--warmup', '1'], 120
    if name == 'cifar_search':
        if small:
            return ['--device', device, '--depth', '10', '--widen', '1', '--per-class', '4',
                    '--epochs', '2', '--batch-size', '8', '--workers', '0'], 120
        return ['--device', device, '--depth', '40', '--widen', '2', '--per-class', '500',
                '--epochs', '20', '--batch-size', '64'], 240
    raise KeyError(name)


# ------------------------------------------------------------------------ child process
def _importer() -> str:
    """``file:line`` of the code whose import statement is being resolved."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if 'importlib' not in frame.filename and not frame.filename.startswith('<'):
            name = frame.filename
            if 'site-packages/' in name:
                name = name.split('site-packages/', 1)[1]
            elif name.startswith(REPO):
                name = osp.relpath(name, REPO)
            return f'{name}:{frame.lineno}'
    return '?'


class WatchImports(importlib.abc.MetaPathFinder):
    """Makes ``mmdet`` unimportable (ModuleNotFoundError) when ``hide`` and records where
    ``mmdet`` and ``mmcv.ops`` / ``mmcv._ext`` are first asked for (by which file)."""

    def __init__(self, hide: bool):
        self.hide, self.asked = hide, {}

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.split('.')[0]
        watched = top == 'mmdet' or fullname in ('mmcv.ops', 'mmcv._ext')
        if watched and fullname not in self.asked:
            self.asked[fullname] = _importer()
        if self.hide and top == 'mmdet':
            raise ModuleNotFoundError(f'No module named {fullname!r} (hidden by gpu_check)',
                                      name=fullname)
        return None


def child(name: str, out: str, argv, hide_mmdet: bool) -> int:
    watch = WatchImports(hide_mmdet)
    sys.meta_path.insert(0, watch)
    path = osp.join(REPO, 'benchmarks', SCRIPTS[name])
    spec = importlib.util.spec_from_file_location(f'gpu_check_{name}', path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        module.main(argv)
    finally:
        info = dict(mmdet_hidden=hide_mmdet,
                    mmdet_asked_by={k: v for k, v in watch.asked.items()
                                    if k.split('.')[0] == 'mmdet'},
                    mmdet_loaded=any(m == 'mmdet' or m.startswith('mmdet.')
                                     for m in sys.modules),
                    mmcv_ops_asked_by={k: v for k, v in watch.asked.items()
                                       if k.startswith('mmcv')},
                    mmcv_ops_loaded='mmcv._ext' in sys.modules)
        with open(out, 'w') as f:
            json.dump(info, f)
        sys.stdout.flush()
    return 0


# ------------------------------------------------------------------------------- driver
def last_pairs(output: str):
    """The last ``key=value ...`` line of a script's output, values as numbers."""
    for line in reversed(output.splitlines()):
        parts = line.split()
        if parts and all('=' in p for p in parts):
            pairs = {}
            for p in parts:
                k, v = p.split('=', 1)
                try:
                    pairs[k] = int(v) if v.isdigit() else float(v)
                except ValueError:
                    pairs[k] = v
            return pairs
    return {}


def version_of(dist: str):
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment(device: str):
    env = dict(python=platform.python_version(), executable=sys.executable,
               machine=platform.machine(), cpu_count=os.cpu_count(),
               torch=version_of('torch'), cuda_available=None)
    if device == 'cuda':  # (importing torch takes seconds on a loaded CPU box: only here)
        import torch
        env.update(torch=torch.__version__, cuda_available=torch.cuda.is_available())
        if torch.cuda.is_available():
            env.update(gpu=torch.cuda.get_device_name(0), cuda=torch.version.cuda)
    for dist in ('torchvision', 'mmengine', 'mmcv', 'mmcv-lite', 'mmpretrain', 'mmdet',
                 'kornia', 'kornia-rs', 'opencv-python', 'opencv-python-headless', 'numpy',
                 'setuptools'):
        env[dist] = version_of(dist)
    mmcv_dir = None
    spec = importlib.util.find_spec('mmcv')
    if spec is not None and spec.submodule_search_locations:
        mmcv_dir = list(spec.submodule_search_locations)[0]
    env['mmcv_path'] = mmcv_dir
    env['mmcv_compiled_ops'] = bool(mmcv_dir) and any(
        f.startswith('_ext') for f in os.listdir(mmcv_dir))
    return env


def good_number(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def run_section(name, args, deadline, log, tmp):
    argv, limit = section_argv(name, args.device, args.small)
    left = deadline - time.monotonic()
    rec = dict(command=['python', f'benchmarks/{SCRIPTS[name]}'] + argv, limit_s=limit)
    if left < 20:
        rec.update(status='skipped', reason=f'time budget spent ({args.budget:.0f} s in all)')
        return rec
    limit = min(limit, int(left))
    info_path = osp.join(tmp, f'{name}.json')
    cmd = [sys.executable, osp.abspath(__file__), '--child', name, '--child-out', info_path]
    cmd += (['--keep-mmdet'] if args.keep_mmdet else []) + ['--'] + argv
    env = dict(os.environ, PYTHONUNBUFFERED='1', MPLBACKEND='Agg')
    if args.device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=limit, text=True)
        output, rc = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout or ''
        output, rc = out.decode(errors='replace') if isinstance(out, bytes) else out, None
    rec['seconds'] = round(time.monotonic() - t0, 1)
    log.write(f'\n===== {name}: {" ".join(rec["command"])}\n{output}\n')
    log.flush()
    tail = output.strip().splitlines()[-12:]
    if osp.exists(info_path):
        with open(info_path) as f:
            rec['imports'] = json.load(f)
    if rc is None:
        rec.update(status='failed', reason=f'timed out after {limit} s', output_tail=tail)
        return rec
    pairs = last_pairs(output)
    rec['results'] = pairs
    missing = [k for k in REQUIRED[name] if not good_number(pairs.get(k))]
    if rc != 0 or missing:
        why = f'exit code {rc}' if rc != 0 else f'missing or non-positive numbers {missing}'
        rec.update(status='failed', reason=why, output_tail=tail)
        return rec
    rec['status'] = 'ran'
    if name == 'batched_ops':
        skipped = [line.strip() for line in output.splitlines()
                   if ': skipped' in line and not line.startswith(' ')]
        if skipped:
            rec['skipped_peers'] = skipped
        rec['summary'] = [line for line in output.splitlines()
                          if line.startswith(('implementation', 'ours', 'kornia',
                                              'torchvision', 'forward'))]
    return rec


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cuda', choices=['cuda', 'cpu'])
    parser.add_argument('--small', action='store_true', help='tiny sizes (CPU smoke run)')
    parser.add_argument('--out', default=None, help='results file (JSON)')
    parser.add_argument('--sections', nargs='+', default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument('--budget', type=float, default=None,
                        help='seconds for all sections (default 420 full, 300 small)')
    parser.add_argument('--keep-mmdet', action='store_true',
                        help='do not hide mmdet from the sections')
    parser.add_argument('--install-info', default=None,
                        help='JSON written by gpu_check.sh about the wheelhouse install')
    parser.add_argument('--child', default=None, help=argparse.SUPPRESS)
    parser.add_argument('--child-out', default=None, help=argparse.SUPPRESS)
    parser.add_argument('rest', nargs='*', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.child_out, args.rest, not args.keep_mmdet)

    t_start = time.monotonic()
    budget = args.budget or (300.0 if args.small else 420.0)
    args.budget = budget
    deadline = t_start + budget
    out = args.out or osp.join(os.environ.get('OUT') or osp.join(REPO, 'work_dirs',
                                                                   'gpu_check'),
                               'gpu_check.json')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    log_path = osp.splitext(out)[0] + '.log'
    res = dict(schema=1, started=datetime.datetime.now().isoformat(timespec='seconds'),
               device=args.device, small=args.small, budget_s=budget,
               provenance=provenance('benchmarks/gpu_check.py',
                                     sys.argv[1:] if argv is None else argv),
               environment=environment(args.device), sections={}, not_run=[])
    if args.install_info and osp.exists(args.install_info):
        with open(args.install_info) as f:
            res['install'] = json.load(f)
    no_cuda = args.device == 'cuda' and not res['environment']['cuda_available']
    if args.device == 'cpu' and res['environment']['cuda_available'] is None:
        res['environment']['cuda_available'] = 'not checked (--device cpu)'
    with open(log_path, 'w') as log, tempfile.TemporaryDirectory() as tmp:
        for name in SECTIONS:
            if name not in args.sections:
                rec = dict(status='skipped', reason='not selected (--sections)')
            elif no_cuda:
                rec = dict(status='skipped', reason='--device cuda: torch sees no CUDA '
                           'device (run with --device cpu for the CPU check)')
            else:
                print(f'[gpu_check] {name} ...', flush=True)
                rec = run_section(name, args, deadline, log, tmp)
            res['sections'][name] = rec
            if rec['status'] != 'ran':
                res['not_run'].append(f'{name}: {rec["status"]}: {rec["reason"]}')
            for peer in rec.get('skipped_peers', []):
                res['not_run'].append(f'{name}: peer {peer}')
            print(f'[gpu_check] {name}: {rec["status"]}'
                  + (f' ({rec["reason"]})' if 'reason' in rec else '')
                  + (f' {rec.get("seconds", 0):.0f} s: {rec["results"]}'
                     if rec['status'] == 'ran' else ''), flush=True)
    for dist in ('kornia', ):
        if res['environment'].get(dist) is None:
            res['not_run'].append(f'{dist} is not installed: its peer rows are skipped')
    for wheel in res.get('install', {}).get('not_installed', []):
        res['not_run'].append(f'wheel not installed (not for this Python?): {wheel}')
    res['notes'] = ['detection (mmdet) is not part of this check'
                    + ('' if args.keep_mmdet else '; mmdet is hidden from every section, as '
                       'on a GPU machine without it')]
    if res['environment']['mmcv_compiled_ops'] is False:
        res['notes'].append('mmcv has no compiled ops here (mmcv-lite); nothing in these '
                            'checks needs them')
    res['total_seconds'] = round(time.monotonic() - t_start, 1)
    tmp_out = out + '.tmp'
    with open(tmp_out, 'w') as f:
        json.dump(res, f, indent=1)
    os.replace(tmp_out, out)
    print(f'[gpu_check] results: {out} (log: {log_path}); '
          f'{len(res["not_run"])} thing(s) not run:')
    for line in res['not_run']:
        print(f'[gpu_check]   NOT RUN: {line}')
    ok = all(r['status'] == 'ran' for r in res['sections'].values())
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
