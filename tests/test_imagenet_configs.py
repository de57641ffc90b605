"""The ImageNet configs run on a tiny fake ImageNet in mmpretrain's layout, changing
only `data_root` (plus sizes/epochs to fit a CPU test)."""
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch


@pytest.fixture(scope='module')
def fake_imagenet(tmp_path_factory):
    """data/imagenet layout: train/<wnid>/*.JPEG, val/*.JPEG, meta/{train,val}.txt."""
    from dada_mm.datasets.synthetic import classification_image
    root = str(tmp_path_factory.mktemp('imagenet'))
    rng = np.random.default_rng(0)
    wnids = ['n01440764', 'n01443537', 'n01484850', 'n01491361']
    os.makedirs(osp.join(root, 'meta'))
    os.makedirs(osp.join(root, 'val'))
    train, val = [], []
    for label, wnid in enumerate(wnids):
        os.makedirs(osp.join(root, 'train', wnid))
        for i in range(6):
            rel = f'{wnid}/{wnid}_{i}.JPEG'
            cv2.imwrite(osp.join(root, 'train', rel), classification_image(rng, label, 48))
            train.append(f'{rel} {label}')
        for i in range(2):
            rel = f'ILSVRC2012_val_{label * 2 + i:08d}.JPEG'
            cv2.imwrite(osp.join(root, 'val', rel), classification_image(rng, label, 48))
            val.append(f'{rel} {label}')
    open(osp.join(root, 'meta', 'train.txt'), 'w').write('\n'.join(train) + '\n')
    open(osp.join(root, 'meta', 'val.txt'), 'w').write('\n'.join(val) + '\n')
    return root


def shrink_sizes(text):
    """Image sizes a CPU test can afford."""
    text = text.replace('scale=224', 'scale=40').replace('scale=256', 'scale=44')
    return text.replace('crop_size=224', 'crop_size=40')


def shrink(text):
    """Sizes, batches and hooks of a child config, so that a CPU test is quick."""
    return shrink_sizes(text) + '''
train_dataloader.update(batch_size=4, num_workers=0, persistent_workers=False)
val_dataloader = dict(globals().get('val_dataloader', {}), batch_size=4, num_workers=0,
                      persistent_workers=False)
test_dataloader = val_dataloader
for _h in globals().get('custom_hooks', []):
    if _h['type'] in ('DADASearchHook', 'PaperDADASearchHook'):
        _h['val_dataloader'].update(batch_size=4, num_workers=0)
default_hooks = dict(logger=dict(type='LoggerHook', interval=1),
                     checkpoint=dict(type='CheckpointHook', interval=1))
'''


@pytest.fixture
def configs(tmp_path, repo_root, fake_imagenet):
    """A copy of configs/ whose ImageNet is the fake one: as a user would, only
    `data_root` changes, once, in configs/_base_/dada_imagenet.py (plus the sizes)."""
    dst = tmp_path / 'configs'
    shutil.copytree(osp.join(repo_root, 'configs'), dst,
                    ignore=shutil.ignore_patterns('__pycache__'))
    base = dst / '_base_' / 'dada_imagenet.py'
    text = re.sub(r"^data_root = .*$", f'data_root = {fake_imagenet!r}', base.read_text(),
                  flags=re.M)
    base.write_text(shrink_sizes(text))
    return dst


def write_child(configs, name, edits=(), extra=''):
    """configs/<name>.py shrunk, with ``(old, new)`` text edits; its path."""
    path = configs / f'{name}.py'
    text = path.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(shrink(text) + extra)
    return str(path)


IMAGENET_CONFIGS = ('dada_resnet50_imagenet', 'dada_search_reduced_imagenet',
                    'dada_retrain_resnet50_imagenet')


def _datasets(node):
    """Every dict with a data_root under ``node``."""
    if isinstance(node, dict):
        if 'data_root' in node:
            yield node
        for value in node.values():
            yield from _datasets(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _datasets(value)


def test_imagenet_configs_read_data_root_from_one_place(configs):
    """Each ImageNet config takes `data_root` and the pipelines from the shared base."""
    from mmengine.config import Config
    base = Config.fromfile(str(configs / '_base_' / 'dada_imagenet.py'))
    for name in IMAGENET_CONFIGS:
        cfg = Config.fromfile(str(configs / f'{name}.py'))
        assert cfg.data_root == base.data_root
        found = list(_datasets(cfg.to_dict()))
        assert len(found) >= 3, name  # train, val, test (and the search's own loaders)
        assert all(d['data_root'] == base.data_root for d in found), name
        assert cfg.test_pipeline == base.test_pipeline
        assert cfg.custom_imports == dict(imports=['dada_mm'], allow_failed_imports=False)


def run(repo_root, cfg, work_dir, *extra):
    proc = subprocess.run([sys.executable, osp.join(repo_root, 'tools', 'train.py'), cfg,
                           '--work-dir', work_dir, *extra], cwd=repo_root,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def test_pretraining_config_searches_then_freezes(tmp_path, repo_root, configs):
    cfg = write_child(configs, 'dada_resnet50_imagenet',
                      [('search_epochs = 20', 'search_epochs = 1'),
                       ('held_out_fraction = 0.02', 'held_out_fraction = 0.25')],
                      'train_cfg = dict(max_epochs=2, val_interval=2)\n')
    wd = str(tmp_path / 'wd')
    run(repo_root, cfg, wd)
    doc = json.load(open(osp.join(wd, 'dada_policy.json')))
    assert len(doc['sub_policies']) == 25 and doc['meta']['frozen'] is True
    # updating every 4th step, the config keeps policy lr 0.02 over the hook's default 0.01
    assert doc['meta']['search']['policy_optimizer']['lr'] == 0.02
    ckpt = torch.load(osp.join(wd, 'epoch_2.pth'))
    assert ckpt['dada_search']['frozen_policy'] == doc['sub_policies']
    # 18 training images (6 held out) -> 5 iterations per epoch; only epoch 1 searches,
    # and the config updates the policy every 4th iteration (iteration 4 of 5)
    from mmengine.config import Config
    assert Config.fromfile(cfg).custom_hooks[0]['update_interval'] == 4
    assert ckpt['dada_search']['updates'] == 5 // 4
    assert any(k.startswith('backbone.layer4') for k in ckpt['state_dict'])


def test_reduced_search_then_retrain_with_its_policy(tmp_path, repo_root, configs):
    cfg = write_child(configs, 'dada_search_reduced_imagenet',
                      [('num_classes = 120', 'num_classes = 3'),
                       ('topk=(1, 5)', 'topk=(1, )'),  # 3 classes have no top-5
                       ('num_images = 6000', 'num_images = 18'),
                       ('epochs = 20', 'epochs = 1')])
    wd = str(tmp_path / 'search')
    run(repo_root, cfg, wd)
    policy = osp.join(wd, 'dada_policy.json')
    doc = json.load(open(policy))
    assert len(doc['sub_policies']) == 25
    # the paper's search: preset='paper'
    search = doc['meta']['search']
    assert (search['estimator'], search['credit'], search['reward_baseline'],
            search['held_out_norm'], search['reward_normalization'], search['share_ops'],
            search['policy_optimizer']['lr']) == ('relax', 'image', None, 'batch', None,
                                                  False, 0.005)
    # the retraining config takes that file
    cfg = write_child(configs, 'dada_retrain_resnet50_imagenet',
                      [("policy = 'dada-imagenet'", f'policy = {policy!r}')],
                      'train_cfg = dict(max_epochs=1, val_interval=1)\n')
    proc = run(repo_root, cfg, str(tmp_path / 'retrain'))
    assert 'accuracy/top1' in proc.stdout + proc.stderr
