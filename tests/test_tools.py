"""tools/train.py argument handling and tools/dist_train.sh's command line."""
import importlib.util
import os
import os.path as osp
import stat
import subprocess

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(f'_dada_tools_{name}',
                                                  osp.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def train():
    return _load_tool('train')


@pytest.fixture(autouse=True)
def no_local_rank(monkeypatch):
    # parse_args sets LOCAL_RANK when absent; keep that inside each test
    monkeypatch.delenv('LOCAL_RANK', raising=False)


def _cfg(**extra):
    base = dict(
        model=dict(type='ImageClassifier', backbone=dict(type='ResNet', depth=18)),
        optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=True, max_epochs=3),
        val_cfg=dict(), val_dataloader=dict(batch_size=2), val_evaluator=dict(
            type='Accuracy'),
    )
    base.update(extra)
    return Config(base)


def _merged(train, argv, cfg=None):
    args = train.parse_args(['configs/demo/my_exp.py', *argv])
    return train.merge_args(cfg if cfg is not None else _cfg(), args), args


def test_defaults(train):
    cfg, args = _merged(train, [])
    assert args.launcher == 'none' and args.resume is None and not args.amp
    assert cfg.launcher == 'none'
    assert cfg.work_dir == osp.join('./work_dirs', 'my_exp')
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert 'resume' not in cfg and cfg.get('load_from') is None
    assert cfg.val_cfg == {} and cfg.val_dataloader == {'batch_size': 2}
    assert os.environ['LOCAL_RANK'] == '0'


def test_work_dir(train, tmp_path):
    cfg, _ = _merged(train, ['--work-dir', str(tmp_path / 'wd')])
    assert cfg.work_dir == str(tmp_path / 'wd')
    # a work_dir in the config is kept unless --work-dir is given
    cfg, _ = _merged(train, [], _cfg(work_dir='from_cfg'))
    assert cfg.work_dir == 'from_cfg'
    cfg, _ = _merged(train, ['--work-dir', 'from_cli'], _cfg(work_dir='from_cfg'))
    assert cfg.work_dir == 'from_cli'


def test_resume_auto(train):
    cfg, args = _merged(train, ['--resume'])
    assert args.resume == 'auto'
    assert cfg.resume is True and cfg.load_from is None
    cfg, _ = _merged(train, ['--resume', 'auto'])
    assert cfg.resume is True and cfg.load_from is None
    # a load_from in the config does not win over auto-resume
    cfg, _ = _merged(train, ['--resume'], _cfg(load_from='x.pth'))
    assert cfg.resume is True and cfg.load_from is None


def test_resume_path(train, tmp_path):
    import torch
    ckpt = tmp_path / 'epoch_2.pth'  # what Runner.resume reads (checked before the run)
    torch.save(dict(meta=dict(epoch=2, iter=6), state_dict={}, message_hub={}), ckpt)
    cfg, args = _merged(train, ['--resume', str(ckpt), '--work-dir', str(tmp_path)])
    assert args.resume == str(ckpt)
    assert cfg.resume is True and cfg.load_from == str(ckpt)
    # --resume as the last option followed by nothing else still parses the path
    cfg, _ = _merged(train, ['--work-dir', str(tmp_path), '--resume', str(ckpt)])
    assert cfg.load_from == str(ckpt)


def test_resume_missing_file(train, tmp_path):
    missing = tmp_path / 'nope' / 'epoch_9.pth'
    with pytest.raises(FileNotFoundError) as e:
        _merged(train, ['--resume', str(missing)])
    assert str(missing) in str(e.value)
    with pytest.raises(FileNotFoundError):
        _merged(train, ['--resume', str(tmp_path)])  # a directory is not a checkpoint


def test_resume_not_a_checkpoint(train, tmp_path):
    from dada_mm.utils.safe_checkpoint import CheckpointFileError
    ckpt = tmp_path / 'epoch_2.pth'
    ckpt.write_bytes(b'')
    with pytest.raises(CheckpointFileError, match=r"^--resume: .*epoch_2\.pth' is not a "
                                                  r'loadable checkpoint: the file is empty'):
        _merged(train, ['--resume', str(ckpt)])


def test_amp(train):
    cfg, _ = _merged(train, ['--amp'])
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.optimizer == {'type': 'SGD', 'lr': 0.1}
    # no type means OptimWrapper
    cfg, _ = _merged(train, ['--amp'], _cfg(optim_wrapper=dict(
        optimizer=dict(type='SGD', lr=0.1))))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    # an explicit loss scale is kept
    cfg, _ = _merged(train, ['--amp'], _cfg(optim_wrapper=dict(
        type='OptimWrapper', loss_scale=512.0, optimizer=dict(type='SGD', lr=0.1))))
    assert cfg.optim_wrapper.loss_scale == 512.0
    # already AMP: unchanged
    cfg, _ = _merged(train, ['--amp'], _cfg(optim_wrapper=dict(
        type='AmpOptimWrapper', loss_scale=8.0, optimizer=dict(type='SGD', lr=0.1))))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.optim_wrapper.loss_scale == 8.0
    # without --amp nothing changes
    cfg, _ = _merged(train, [])
    assert cfg.optim_wrapper.type == 'OptimWrapper' and 'loss_scale' not in cfg.optim_wrapper
    # another wrapper type cannot be switched
    with pytest.raises(ValueError, match='MyWrapper'):
        _merged(train, ['--amp'], _cfg(optim_wrapper=dict(
            type='MyWrapper', optimizer=dict(type='SGD', lr=0.1))))


def test_cfg_options(train):
    cfg, _ = _merged(train, ['--cfg-options', 'train_cfg.max_epochs=7',
                             'model.backbone.depth=50', 'optim_wrapper.optimizer.lr=0.02',
                             'custom=[1,2]', 'name=abc'])
    assert cfg.train_cfg.max_epochs == 7 and cfg.train_cfg.by_epoch is True
    assert cfg.model.backbone == {'type': 'ResNet', 'depth': 50}
    assert cfg.optim_wrapper.optimizer.lr == 0.02
    assert cfg.custom == [1, 2] and cfg.name == 'abc'
    # --cfg-options work_dir is overridden by --work-dir, but used without it
    cfg, _ = _merged(train, ['--cfg-options', 'work_dir=opt', '--work-dir', 'cli'])
    assert cfg.work_dir == 'cli'
    cfg, _ = _merged(train, ['--cfg-options', 'work_dir=opt'])
    assert cfg.work_dir == 'opt'
    # --amp applies on top of a cfg-options wrapper type
    cfg, _ = _merged(train, ['--amp', '--cfg-options', 'optim_wrapper.type=OptimWrapper'])
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'


@pytest.mark.parametrize('launcher', ['none', 'pytorch', 'slurm', 'mpi'])
def test_launcher(train, launcher):
    cfg, args = _merged(train, ['--launcher', launcher])
    assert args.launcher == cfg.launcher == launcher


def test_bad_launcher_and_unknown_args(train, capsys):
    with pytest.raises(SystemExit):
        train.parse_args(['c.py', '--launcher', 'torchrun'])
    assert 'launcher' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.parse_args(['c.py', '--no-such-flag'])
    with pytest.raises(SystemExit):
        train.parse_args([])


@pytest.mark.parametrize('flag', ['--local_rank', '--local-rank'])
def test_local_rank(train, flag, monkeypatch):
    args = train.parse_args(['c.py', flag, '3'])
    assert args.local_rank == 3 and os.environ['LOCAL_RANK'] == '3'
    monkeypatch.setenv('LOCAL_RANK', '1')  # torchrun's value wins
    args = train.parse_args(['c.py', flag, '3'])
    assert os.environ['LOCAL_RANK'] == '1'


def test_no_validate_and_auto_scale_lr(train):
    cfg, _ = _merged(train, ['--no-validate'])
    assert cfg.val_cfg is None and cfg.val_dataloader is None and cfg.val_evaluator is None
    with pytest.raises(KeyError, match='auto_scale_lr'):
        _merged(train, ['--auto-scale-lr'])
    cfg, _ = _merged(train, ['--auto-scale-lr'],
                     _cfg(auto_scale_lr=dict(enable=False, base_batch_size=256)))
    assert cfg.auto_scale_lr == {'enable': True, 'base_batch_size': 256}


# --------------------------------------------------------------------------------------
# dist_train.sh
# --------------------------------------------------------------------------------------
DIST = osp.join(REPO, 'tools', 'dist_train.sh')


def test_dist_train_is_executable_and_uses_pytorch_launcher():
    mode = os.stat(DIST).st_mode
    assert mode & stat.S_IXUSR and os.access(DIST, os.X_OK)
    text = open(DIST).read()
    assert text.startswith('#!')
    assert '--launcher pytorch' in text
    assert 'torch.distributed.run' in text
    assert '"${@:3}"' in text


def test_dist_train_command_line(tmp_path):
    """Run the script with a stand-in Python that records its arguments."""
    log = tmp_path / 'argv.txt'
    fake = tmp_path / 'fakepy'
    fake.write_text('#!/usr/bin/env bash\nfor a in "$@"; do echo "$a"; done > '
                    f'"{log}"\necho "PYTHONPATH=$PYTHONPATH" >> "{log}"\n')
    fake.chmod(0o755)
    env = dict(os.environ, PYTHON=str(fake), PORT='29611', NNODES='1', NODE_RANK='0')
    env.pop('PYTHONPATH', None)
    proc = subprocess.run([DIST, 'configs/demo/x.py', '2', '--work-dir', 'w d',
                           '--cfg-options', 'a=1'], env=env, capture_output=True,
                          text=True, timeout=60, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    argv = log.read_text().splitlines()
    assert argv[:2] == ['-m', 'torch.distributed.run']
    assert '--nproc_per_node=2' in argv and '--master_port=29611' in argv
    assert '--nnodes=1' in argv and '--node_rank=0' in argv
    i = argv.index(osp.join(REPO, 'tools', 'train.py'))
    assert argv[i + 1:] == ['configs/demo/x.py', '--launcher', 'pytorch', '--work-dir',
                            'w d', '--cfg-options', 'a=1',
                            f'PYTHONPATH={REPO}:']
