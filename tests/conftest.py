"""Shared fixtures: generated data sets (no downloads) and the repository root."""
import os.path as osp
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)


@pytest.fixture(scope='session')
def repo_root():
    return REPO


@pytest.fixture(scope='session')
def shapes_root(tmp_path_factory):
    """A tiny classification set in mmpretrain's folder layout (3 classes, 32 px)."""
    from dada_mm.datasets.synthetic import make_classification_set
    root = str(tmp_path_factory.mktemp('shapes'))
    make_classification_set(root, num_classes=3, train_per_class=8, test_per_class=2,
                            size=32, seed=0)
    return root
