"""What made a benchmark's numbers: the commit (and whether the tree had changes), the
exact command, and the versions of the packages that decide them. Benchmarks record it
when they start, so a run that overlaps a later edit still names the code it ran. Where
the tree was copied without its ``.git`` (a lent GPU machine), ``DADA_COMMIT`` names the
commit."""
import os
import os.path as osp
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Dict, Sequence

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PACKAGES = ('torch', 'torchvision', 'numpy', 'mmengine', 'mmcv', 'mmpretrain', 'mmdet',
            'opencv-python', 'pillow', 'scikit-learn')


def _git(*cmd):
    try:
        return subprocess.run(('git', ) + cmd, cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def provenance(script: str, argv: Sequence[str]) -> Dict:
    status = _git('status', '--porcelain', '--untracked-files=no')
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    return dict(commit=_git('rev-parse', 'HEAD') or os.environ.get('DADA_COMMIT'),
                dirty=None if status is None else bool(status),
                command=' '.join(['python', script] + list(argv)),
                python=sys.version.split()[0], packages=packages,
                date=time.strftime('%Y-%m-%d %H:%M:%S %Z'))


def write_results(path: str, made: Dict, args, **records) -> None:
    """A benchmark's ``--out`` file: its provenance, its arguments, then ``records``."""
    import json
    with open(path, 'w') as f:
        json.dump(dict(provenance=made, args=vars(args), **records), f, indent=1)


def provenance_line(made: Dict) -> str:
    tree = {False: 'clean tree', True: 'tree with changes'}.get(made['dirty'], 'tree unknown')
    versions = ', '.join(f'{k} {v}' for k, v in made['packages'].items() if v)
    return (f"provenance: commit {made['commit']} ({tree}); {made['command']}; "
            f"python {made['python']}, {versions}; {made['date']}")
