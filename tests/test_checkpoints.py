"""MMEngine checkpoints with torch's safe loading (``weights_only=True``) after
``import dada_mm``: save, load, resume, pretrained init, and refusal of foreign objects."""
import fractions
import importlib.util
import os
import os.path as osp
import pickle
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner, load_checkpoint

import dada_mm  # noqa: F401
from dada_mm.datasets.synthetic import make_classification_set
from dada_mm.utils.safe_checkpoint import checkpoint_safe_globals, register_checkpoint_safe_globals

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

CONFIG = '''
default_scope = 'mmpretrain'
custom_imports = dict(imports=['dada_mm'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, num_stages=1, out_indices=(0, ),
                  strides=(1, ), dilations=(1, ),
                  base_channels=8, stem_channels=8, style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=3, in_channels=8,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, )))
data_preprocessor = dict(num_classes=3, mean=[127.5, 127.5, 127.5],
                         std=[64.0, 64.0, 64.0], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='DADAAugment', policy='dada-cifar10'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=4, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='CustomDataset', data_root={root!r}, data_prefix='train',
                 ann_file='meta/train.txt', with_label=True, pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=6, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CustomDataset', data_root={root!r}, data_prefix='val',
                 ann_file='meta/val.txt', with_label=True, pipeline=test_pipeline))
test_evaluator = dict(type='Accuracy', topk=(1, ))
test_cfg = dict()
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9,
                                    weight_decay=1e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=False, milestones=[100], gamma=0.1)
train_cfg = dict(by_epoch=False, max_iters=2)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False, max_keep_ckpts=5))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
log_level = 'WARNING'
'''


class Foreign:
    """A class no allow-list knows."""

    def __init__(self, value=1):
        self.value = value


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(f'_dada_tools_{name}',
                                                  osp.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def isolated_default_scope(monkeypatch):
    monkeypatch.setattr(DefaultScope, '_instance_dict', dict(DefaultScope._instance_dict))


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Train 2 iterations; returns (config path, work dir, checkpoint of iter 2)."""
    root = tmp_path_factory.mktemp('ckpt')
    data = root / 'shapes'
    make_classification_set(str(data), num_classes=3, train_per_class=4, test_per_class=2,
                            size=32)
    cfg_path = root / 'tiny_cls.py'
    cfg_path.write_text(CONFIG.format(root=str(data)))
    cfg = Config.fromfile(str(cfg_path))
    cfg.work_dir = str(root / 'work')
    cfg.experiment_name = 'ckpt_train'
    runner = Runner.from_cfg(cfg)
    runner.train()
    ckpt = osp.join(cfg.work_dir, 'iter_2.pth')
    assert osp.isfile(ckpt)
    return cfg_path, cfg.work_dir, ckpt, {k: v.detach().clone()
                                          for k, v in runner.model.state_dict().items()}


def _build_cfg(cfg_path, work_dir, name, **changes):
    cfg = Config.fromfile(str(cfg_path))
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = name
    cfg.merge_from_dict(changes)
    return cfg


# --------------------------------------------------------------------------------------
# (a) torch.load with weights_only=True
# --------------------------------------------------------------------------------------
def test_default_torch_load_is_weights_only_and_succeeds(trained):
    _, _, ckpt, final_state = trained
    data = torch.load(ckpt)  # the default: weights_only=True on torch >= 2.6
    assert set(data) >= {'meta', 'state_dict', 'optimizer', 'message_hub',
                         'param_schedulers'}
    assert data['meta']['iter'] == 2
    hub = data['message_hub']
    from mmengine.logging import HistoryBuffer
    buffers = [v for v in hub['log_scalars'].values()]
    assert buffers and all(isinstance(b, HistoryBuffer) for b in buffers)
    loss = hub['log_scalars']['train/loss']
    assert len(loss.data[0]) == 2 and np.all(np.isfinite(loss.data[0]))
    assert data['state_dict'].keys() == final_state.keys()
    for k, v in final_state.items():
        assert torch.equal(data['state_dict'][k], v), k
    # explicit weights_only=True gives the same
    again = torch.load(ckpt, weights_only=True, map_location='cpu')
    assert again['meta']['iter'] == 2


def test_numpy_and_history_buffer_round_trip(tmp_path):
    from mmengine.logging import HistoryBuffer
    buf = HistoryBuffer()
    buf.update(1.5)
    buf.update(2.0)
    obj = {'f64': np.float64(0.25), 'f32': np.float32(3.5), 'i64': np.int64(-7),
           'u8': np.uint8(200), 'b': np.bool_(True), 'arr': np.arange(6, dtype=np.int16),
           'buf': buf, 't': torch.ones(2)}
    path = tmp_path / 'n.pth'
    torch.save(obj, path)
    out = torch.load(path, weights_only=True)
    for key in ('f64', 'f32', 'i64', 'u8', 'b'):
        assert type(out[key]) is type(obj[key]) and out[key] == obj[key], key
    np.testing.assert_array_equal(out['arr'], obj['arr'])
    assert out['arr'].dtype == np.int16
    assert out['buf'].mean() == pytest.approx(1.75) and len(out['buf'].data[0]) == 2


# --------------------------------------------------------------------------------------
# (b) resume / load_from
# --------------------------------------------------------------------------------------
def test_resume_via_tools_train(trained, tmp_path, monkeypatch):
    cfg_path, _, ckpt, _ = trained
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    train = _load_tool('train')
    work = tmp_path / 'resumed'
    runner = train.main([str(cfg_path), '--work-dir', str(work), '--resume', ckpt,
                         '--cfg-options', 'train_cfg.max_iters=3',
                         'experiment_name=resume_path'])
    # resumed at iteration 2, trained one more
    assert runner.iter == 3
    assert 'iter_3.pth' in os.listdir(work)
    assert not osp.exists(work / 'iter_1.pth') and not osp.exists(work / 'iter_2.pth')
    data = torch.load(work / 'iter_3.pth')
    assert data['meta']['iter'] == 3
    # the message hub carried over: the loss history has 2 + 1 entries
    assert len(data['message_hub']['log_scalars']['train/loss'].data[0]) == 3


def test_auto_resume_via_tools_train(trained, tmp_path, monkeypatch):
    cfg_path, work_dir, _, _ = trained
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    import shutil
    work = tmp_path / 'auto'
    shutil.copytree(work_dir, work)
    train = _load_tool('train')
    runner = train.main([str(cfg_path), '--work-dir', str(work), '--resume',
                         '--cfg-options', 'train_cfg.max_iters=3',
                         'experiment_name=resume_auto'])
    assert runner.iter == 3
    assert torch.load(work / 'iter_3.pth')['meta']['iter'] == 3


def _not_a_checkpoint(kind, ckpt, path):
    """Write a file of ``kind`` that --resume must refuse; returns the expected reason."""
    if kind == 'text':
        path.write_text('epoch 3, loss 0.12\n')
        return 'it is not a file written by torch.save'
    if kind == 'random':
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
        return 'it is not a file written by torch.save'
    if kind == 'json':
        path.write_text('{"version": 1, "sub_policies": []}')
        return 'it is not a file written by torch.save (unpickling stopped at: Unsupported'
    if kind == 'empty':
        path.write_bytes(b'')
        return 'the file is empty'
    if kind == 'truncated':  # a save cut short: the zip archive lacks its directory
        data = open(ckpt, 'rb').read()
        path.write_bytes(data[:len(data) // 2])
        return 'it is a damaged zip archive (truncated, or changed after it was saved)'
    if kind == 'zip':  # e.g. an archive of images passed by mistake
        import zipfile
        with zipfile.ZipFile(path, 'w') as archive:
            archive.writestr('images/a.txt', 'not a checkpoint')
        return 'it is a zip archive that torch.save did not write (no data.pkl)'
    if kind == 'tensor':
        torch.save(torch.zeros(3), path)
        return 'it holds a Tensor, not a checkpoint dict'
    if kind == 'state_dict':  # model weights only: a load_from file, not a resume one
        torch.save(torch.load(ckpt)['state_dict'], path)
        return 'it has no meta, state_dict, message_hub (keys: backbone.'
    if kind == 'foreign':
        data = torch.load(ckpt)
        data['meta']['extra'] = Foreign(2)
        torch.save(data, path)
        return f'it holds a pickled {__name__}.Foreign, which safe loading'
    raise AssertionError(kind)


NOT_CHECKPOINTS = ['text', 'random', 'json', 'empty', 'truncated', 'zip', 'tensor',
                   'state_dict', 'foreign']


@pytest.mark.parametrize('kind', NOT_CHECKPOINTS)
def test_resume_refuses_a_file_that_is_not_a_checkpoint(trained, tmp_path, monkeypatch,
                                                         kind):
    """``--resume FILE``: an error naming the file and the reason, never torch's advice
    to load with ``weights_only=False``; nothing is built, nothing written."""
    from dada_mm.utils.safe_checkpoint import CheckpointFileError
    cfg_path, _, ckpt, _ = trained
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    path = tmp_path / f'{kind}.pth'
    reason = _not_a_checkpoint(kind, ckpt, path)
    train = _load_tool('train')
    work = tmp_path / 'work'
    with pytest.raises(CheckpointFileError) as e:
        train.main([str(cfg_path), '--work-dir', str(work), '--resume', str(path)])
    msg = str(e.value)
    assert msg.startswith(f'--resume: {str(path)!r} is not a loadable checkpoint: {reason}'), \
        msg
    assert "--resume needs a checkpoint that MMEngine's CheckpointHook wrote" in msg
    assert 'False' not in msg and 'trust' not in msg, msg
    # torch's own message (with its advice) is not chained into the traceback either
    assert e.value.__cause__ is None
    assert e.value.__context__ is None or e.value.__suppress_context__
    assert not work.exists()
    # safe loading stayed on: the refused global is still refused by a plain load
    if kind == 'foreign':
        with pytest.raises(pickle.UnpicklingError, match='Foreign'):
            torch.load(path)


def test_resume_refuses_a_plain_state_dict_and_points_to_load_from(trained, tmp_path):
    from dada_mm.utils.safe_checkpoint import CheckpointFileError, check_resume_checkpoint
    _, _, ckpt, _ = trained
    path = tmp_path / 'weights.pth'
    torch.save(torch.load(ckpt)['state_dict'], path)
    with pytest.raises(CheckpointFileError, match=r'a plain state dict or model weights\?\)'
                       r'\. To start a new run from these weights, set load_from \(e\.g\. '
                       r'--cfg-options load_from=.*weights\.pth\) instead of --resume'):
        check_resume_checkpoint(str(path))
    data = torch.load(ckpt)
    del data['meta']['iter']
    torch.save(data, path)
    with pytest.raises(CheckpointFileError, match=r"it has no meta\['iter'\]"):
        check_resume_checkpoint(str(path))


def test_resume_refuses_a_checkpoint_written_without_dada_mm(trained, tmp_path):
    """mmengine's own HistoryBuffer pickling stores getattr: refused, and said why."""
    from mmengine.logging import HistoryBuffer

    from dada_mm.utils.safe_checkpoint import CheckpointFileError, check_resume_checkpoint
    _, _, ckpt, _ = trained
    data = torch.load(ckpt)
    data['message_hub']['extra'] = {'min': HistoryBuffer.min}  # pickled as getattr(...)
    path = tmp_path / 'stock.pth'
    torch.save(data, path)
    with pytest.raises(CheckpointFileError) as e:
        check_resume_checkpoint(str(path))
    assert 'it holds a pickled getattr, which safe loading (weights_only=True) refuses' \
        in str(e.value)
    assert 'written by a process that did not import dada_mm' in str(e.value)


def test_auto_resume_refuses_a_damaged_latest_checkpoint(trained, tmp_path, monkeypatch):
    """``--resume`` without a path: the checkpoint named in work_dir/last_checkpoint is
    checked the same way (here cut short, as by a full disk)."""
    import shutil

    from dada_mm.utils.safe_checkpoint import CheckpointFileError
    cfg_path, work_dir, _, _ = trained
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    work = tmp_path / 'auto'
    shutil.copytree(work_dir, work)
    latest = open(work / 'last_checkpoint').read().strip()
    latest = str(work / osp.basename(latest))
    (work / 'last_checkpoint').write_text(latest)
    data = open(latest, 'rb').read()
    open(latest, 'wb').write(data[:1000])
    train = _load_tool('train')
    with pytest.raises(CheckpointFileError, match=(
            r'^--resume \(the latest checkpoint of the work_dir\): '
            + re.escape(repr(latest)) + ' is not a loadable checkpoint: it is a damaged zip')):
        train.main([str(cfg_path), '--work-dir', str(work), '--resume'])


def test_resume_and_load_from_restore_state(trained, tmp_path):
    cfg_path, _, ckpt, final_state = trained
    saved = torch.load(ckpt)
    # resume: weights, iteration, optimizer state
    cfg = _build_cfg(cfg_path, tmp_path / 'r', 'resume_state', resume=True, load_from=ckpt)
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    assert runner.iter == 2
    for k, v in runner.model.state_dict().items():
        assert torch.equal(v, final_state[k]), k
    opt = runner.optim_wrapper.optimizer.state_dict()
    assert len(opt['state']) == len(saved['optimizer']['state']) > 0
    for i, st in saved['optimizer']['state'].items():
        assert torch.equal(opt['state'][i]['momentum_buffer'], st['momentum_buffer'])
    # load_from: weights only, iteration 0
    cfg = _build_cfg(cfg_path, tmp_path / 'l', 'load_from_state', load_from=ckpt)
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    assert runner.iter == 0
    for k, v in runner.model.state_dict().items():
        assert torch.equal(v, final_state[k]), k


def test_tools_test_evaluates_checkpoint(trained, tmp_path, monkeypatch):
    cfg_path, _, ckpt, _ = trained
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    test = _load_tool('test')
    out = tmp_path / 'preds.pkl'
    metrics = test.main([str(cfg_path), ckpt, '--work-dir', str(tmp_path / 't'),
                         '--out', str(out), '--cfg-options', 'experiment_name=tool_test'])
    acc = metrics['accuracy/top1']
    assert 0.0 <= acc <= 100.0
    assert out.is_file()
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        test.main([str(cfg_path), str(tmp_path / 'nope.pth')])


# --------------------------------------------------------------------------------------
# (c) load_checkpoint and backbone Pretrained init
# --------------------------------------------------------------------------------------
def _fresh_model(cfg_path, backbone_init=None):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(str(cfg_path))
    if backbone_init is not None:
        cfg.model.backbone.init_cfg = backbone_init
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg.model)


def test_load_checkpoint_and_pretrained_init(trained):
    cfg_path, _, ckpt, final_state = trained
    torch.manual_seed(123)
    model = _fresh_model(cfg_path)
    model.init_weights()
    differs = [k for k, v in model.state_dict().items()
               if v.is_floating_point() and not torch.equal(v, final_state[k])]
    assert differs  # a fresh model really differs before loading
    load_checkpoint(model, ckpt, map_location='cpu', strict=True)
    for k, v in model.state_dict().items():
        assert torch.equal(v, final_state[k]), k

    torch.manual_seed(321)
    model = _fresh_model(cfg_path, dict(type='Pretrained', checkpoint=ckpt,
                                        prefix='backbone.'))
    model.init_weights()
    backbone = {k: v for k, v in final_state.items() if k.startswith('backbone.')}
    assert backbone
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, backbone['backbone.' + k]), k
    # the head is not part of the prefix and stays freshly initialised
    assert not torch.equal(model.head.fc.weight, final_state['head.fc.weight'])


# --------------------------------------------------------------------------------------
# (d) foreign objects are refused
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize('make,global_name', [
    (lambda: Foreign(3), f'{__name__}.Foreign'),
    (lambda: fractions.Fraction(1, 3), 'fractions.Fraction'),
    (lambda: Config(dict(a=1)), 'mmengine.config.config.Config'),
    (lambda: np.random.default_rng(0), 'numpy.random'),
])
def test_foreign_objects_refused(trained, tmp_path, make, global_name):
    _, _, ckpt, _ = trained
    data = torch.load(ckpt)
    data['meta']['extra'] = make()
    path = tmp_path / 'foreign.pth'
    torch.save(data, path)
    for load in (lambda: torch.load(path),
                 lambda: torch.load(path, weights_only=True, map_location='cpu'),
                 lambda: load_checkpoint(_fresh_model(trained[0]), str(path))):
        with pytest.raises(pickle.UnpicklingError) as e:
            load()
        msg = str(e.value)
        assert 'weights_only' in msg and global_name in msg, msg
    # the file itself is fine: an explicit trusted load still works
    assert torch.load(path, weights_only=False)['meta']['iter'] == 2


def test_safe_loading_not_disabled(tmp_path):
    """Nothing here turns torch's weights-only loading off: a plain ``torch.load`` refuses
    an object outside the allow-lists (the refusal tests above rely on it)."""
    assert os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD') in (None, '', '0')
    path = tmp_path / 'fraction.pth'
    torch.save({'x': fractions.Fraction(1, 3)}, path)
    with pytest.raises(pickle.UnpicklingError, match='weights_only'):
        torch.load(path)


# --------------------------------------------------------------------------------------
# (e) exactly the project's allow-list
# --------------------------------------------------------------------------------------
def test_history_buffers_round_trip_empty_or_not(tmp_path):
    from mmengine.logging import HistoryBuffer
    for updates in (0, 1, 3):
        buf = HistoryBuffer()
        for i in range(updates):
            buf.update(float(i))
        path = tmp_path / f'h{updates}.pth'
        torch.save({'h': buf}, path)
        loaded = torch.load(path)['h']  # weights_only=True (the default)
        assert loaded.data[0].tolist() == buf.data[0].tolist()
        if updates:
            assert loaded.mean() == buf.mean() and loaded.current() == buf.current()


def test_project_allow_list_is_exact():
    from mmengine.logging import HistoryBuffer
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtypes = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
              np.uint8, np.uint16, np.uint32, np.uint64, np.bool_]
    expected = [HistoryBuffer, scalar, _reconstruct, np.ndarray, np.dtype, bytes,
                *[type(np.dtype(t)) for t in dtypes]]
    project = checkpoint_safe_globals()
    assert len(project) == len(expected) == len(set(map(id, project)))
    assert set(map(id, project)) == set(map(id, expected))
    registered = torch.serialization.get_safe_globals()
    ids = [id(g) for g in registered]
    for g in project:
        assert ids.count(id(g)) == 1, g
    # idempotent
    register_checkpoint_safe_globals()
    register_checkpoint_safe_globals()
    assert len(torch.serialization.get_safe_globals()) == len(registered)
    # nothing blanket: no builtins that execute code, no `object`, no mmengine types
    # other than HistoryBuffer
    names = {f'{getattr(g, "__module__", "")}.{getattr(g, "__qualname__", g)}'
             for g in registered if not isinstance(g, tuple)}
    for bad in ('builtins.eval', 'builtins.exec', 'builtins.getattr', 'builtins.object',
                'builtins.__import__', 'builtins.type', 'posix.system', 'os.system',
                'mmengine.config.config.Config', 'mmengine.config.config.ConfigDict',
                'builtins.setattr', 'functools.partial', 'fractions.Fraction'):
        assert bad not in names, bad
    mmengine_types = [n for n in names if n.startswith('mmengine')]
    assert mmengine_types == ['mmengine.logging.history_buffer.HistoryBuffer']
    numpy_types = sorted(n for n in names if n.startswith('numpy'))
    assert len(numpy_types) == len(project) - 2  # all but HistoryBuffer and bytes
    assert 'builtins.bytes' in names


def test_import_adds_exactly_the_project_list():
    """In a fresh interpreter, ``import dada_mm`` adds exactly the project's list."""
    script = textwrap.dedent('''
        import torch, numpy, mmengine, mmengine.logging, mmcv, mmpretrain, mmdet
        import mmengine.runner, mmcv.transforms
        before = set(map(id, torch.serialization.get_safe_globals()))
        import dada_mm
        from dada_mm.utils.safe_checkpoint import checkpoint_safe_globals
        after = torch.serialization.get_safe_globals()
        added = [g for g in after if id(g) not in before]
        project = checkpoint_safe_globals()
        extra = [g for g in added if id(g) not in set(map(id, project))]
        # anything else added during the import must be torch's own registration
        assert all(getattr(g, '__module__', '').startswith('torch') for g in extra), extra
        assert set(map(id, project)) <= set(map(id, after))
        print('ADDED', len(added) - len(extra), len(project))
    ''')
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          env=env, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith('ADDED')][-1]
    _, added, expected = line.split()
    assert added == expected == str(len(checkpoint_safe_globals()))
