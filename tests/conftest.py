"""Shared fixtures: generated data sets (no downloads) and the repository root."""
import os.path as osp
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)


@pytest.fixture
def keep_torch_threads():
    """Restore torch's thread count after a test whose code sets it (a benchmark's
    ``--threads``)."""
    import torch
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


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


def _manager_classes():
    """Every class that keeps mmengine's global named instances (MessageHub, MMLogger,
    visualizers), each with its own instance dict."""
    from mmengine.utils import ManagerMixin
    seen, todo = [], [ManagerMixin]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.append(sub)
                todo.append(sub)
    return [cls for cls in seen if '_instance_dict' in vars(cls)]


@pytest.fixture(autouse=True)
def _fresh_mmengine_instances():
    """A runner's message hub, logger and visualizer are global instances named after the
    config file and the second the runner was built: two tests that build a runner from
    ``tiny.py`` within one second would share them (scalars, log file). Each test drops the
    instances it created."""
    before = {cls: set(cls._instance_dict) for cls in _manager_classes()}
    yield
    for cls in _manager_classes():
        for name in set(cls._instance_dict) - before.get(cls, set()):
            instance = cls._instance_dict.pop(name)
            for handler in getattr(instance, 'handlers', [])[:]:
                if hasattr(handler, 'baseFilename'):
                    handler.close()
                    instance.removeHandler(handler)
