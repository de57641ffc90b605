"""Shared fixtures: generated data sets (no downloads) and the repository root."""
import os.path as osp
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)


@pytest.fixture(autouse=True)
def _thread_counts_per_test():
    """Torch's and OpenCV's thread counts are put back after every test: a test (or a
    benchmark's ``main`` it calls, which pins one thread) that sets its own does not change
    the rounding of the tests after it, so a test gives the same numbers alone and in the
    suite. A module-scoped fixture that sets them restores them itself when the module
    ends (it runs before this one records them)."""
    import cv2
    import torch
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    yield
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(cv2_threads)


@pytest.fixture(scope='session')
def repo_root():
    return REPO


@pytest.fixture(scope='session')
def load_benchmark():
    """``load(name)``: the script ``benchmarks/<name>.py`` as a module (the tests of a
    benchmark test the script itself), each loaded once per session."""
    import importlib.util
    loaded = {}

    def load(name):
        if name not in loaded:
            spec = importlib.util.spec_from_file_location(
                name, osp.join(REPO, 'benchmarks', f'{name}.py'))
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            loaded[name] = module
        return loaded[name]

    return load


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


@pytest.fixture(scope='module')
def tiny_classifier():
    """A small mmpretrain ImageClassifier (ResNet stem + 2 stages, LinearClsHead, 3
    classes) in float64 and train mode, with 4 images [4, 3, 20, 20] and their samples;
    one per test module."""
    import torch
    from mmengine.registry import MODELS, init_default_scope
    from mmpretrain.structures import DataSample
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='ImageClassifier',
        data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=3,
                               mean=[120., 110., 100.], std=[50., 55., 60.],
                               to_rgb=True),
        backbone=dict(type='ResNet', depth=18, num_stages=2, out_indices=(1, ),
                      base_channels=4, strides=(1, 2), dilations=(1, 1)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=8)))
    model = model.double()
    model.data_preprocessor.mean = model.data_preprocessor.mean.double()
    model.data_preprocessor.std = model.data_preprocessor.std.double()
    model.train()
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (4, 3, 20, 20), generator=g).double()
    samples = [DataSample().set_gt_label(i % 3) for i in range(4)]
    return model, images, samples


@pytest.fixture
def check_both_signs():
    """``check(make_learner, score)``: the candidate step with ``signs='both'`` against the
    same step with ``signs='draw'``, from the same random stream, with the drawn signs and
    with them negated. ``make_learner(signs)`` builds a ``PolicyLearner``; ``score(learner)``
    runs one candidate step and returns ``(PolicyReward, CandidateSet)``. The rewards must be
    per candidate, so that the runs compare row by row: a candidate that applies a signed
    op gets the mean of its two signs' rewards (and the sign changes them), every other
    candidate the drawn signs' reward, whichever sign was drawn."""
    import torch

    from dada_mm.search.candidates import SignMirror

    def run(make_learner, score, signs, flip=False):
        learner = make_learner(signs)
        if flip:
            draw = learner.signs_and_centers

            def negated(n):
                drawn_signs, centers = draw(n)
                return -drawn_signs, centers
            learner.signs_and_centers = negated
        reward, cand = score(learner)
        _, k, b, _ = cand.flat()
        return reward.per_image.reshape(-1), SignMirror.of(learner.op_indices_of(k), b)

    def check(make_learner, score):
        drawn, mirror = run(make_learner, score, 'draw')
        flipped, _ = run(make_learner, score, 'draw', flip=True)
        both, _ = run(make_learner, score, 'both')
        rows = mirror.rows
        others = torch.ones(len(drawn), dtype=torch.bool)
        others[rows] = False
        assert 0 < len(rows) < len(drawn)
        assert (drawn[rows] - flipped[rows]).abs().max() > 1e-3 * drawn.abs().max()
        torch.testing.assert_close(both[rows], (drawn[rows] + flipped[rows]) / 2)
        torch.testing.assert_close(both[others], drawn[others])
        torch.testing.assert_close(flipped[others], drawn[others])
    return check
