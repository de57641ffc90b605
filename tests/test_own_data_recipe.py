"""The own-data recipe of docs/own_data.md, end to end on a generated image folder.

As a user would: copy the configs, change `data_root` and `num_classes` in
configs/dada_search_own_data.py, run `tools/train.py` on the search config and then on the
retraining config, both without --work-dir (the retraining finds the policy where the
search wrote it). Only sizes, batches and epochs are overridden, with --cfg-options, so
that it runs on a CPU in seconds.
"""
import importlib.util
import json
import os
import os.path as osp
import re
import shutil

import cv2
import numpy as np
import pytest
from mmengine.registry import DefaultScope

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLASSES = ('daisy', 'roses', 'tulips')  # sorted, as CustomDataset orders the sub-folders
PER_CLASS = 8
SEARCH_EPOCHS = 2
SEARCH_BATCH = 4

# a ResNet-18 with 8 base channels at 32 px instead of ResNet-50 at 224 px
TINY_MODEL = ['model.backbone.depth=18', 'model.backbone.base_channels=8',
              'model.backbone.stem_channels=8', 'model.head.in_channels=64']
SEARCH_OPTIONS = TINY_MODEL + [
    f'train_dataloader.batch_size={SEARCH_BATCH}', 'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'train_dataloader.dataset.dataset.pipeline.1.scale=32',
    'val_dataloader.batch_size=4', 'val_dataloader.num_workers=0',
    'val_dataloader.persistent_workers=False',
    'val_dataloader.dataset.pipeline.1.scale=36',
    'val_dataloader.dataset.pipeline.2.crop_size=32',
    f'custom_hooks.1.val_dataloader.batch_size={SEARCH_BATCH}',
    'custom_hooks.1.val_dataloader.num_workers=0',
    'custom_hooks.1.val_dataloader.dataset.pipeline.1.scale=36',
    'custom_hooks.1.val_dataloader.dataset.pipeline.2.crop_size=32',
    f'train_cfg.max_epochs={SEARCH_EPOCHS}', f'train_cfg.val_interval={SEARCH_EPOCHS}',
    f'param_scheduler.T_max={SEARCH_EPOCHS}']
RETRAIN_OPTIONS = TINY_MODEL + [
    'train_dataloader.batch_size=8', 'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'train_dataloader.dataset.pipeline.1.scale=32', 'train_cfg.max_epochs=1']


def _train_tool():
    spec = importlib.util.spec_from_file_location('_dada_tools_train_own_data',
                                                  osp.join(REPO, 'tools', 'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_image_folder(root):
    """root/<class>/*.png|*.JPG of two sizes, a stray text file in one class folder and a
    licence file next to the class folders (neither is an image); the image paths."""
    from dada_mm.datasets.synthetic import classification_image
    rng = np.random.default_rng(0)
    paths = []
    for label, name in enumerate(CLASSES):
        os.makedirs(osp.join(root, name))
        for i in range(PER_CLASS):
            path = osp.join(root, name, f'{name}_{i}.png' if i % 2 else f'IMG_{i}.JPG')
            cv2.imwrite(path, classification_image(rng, label, 36 if i % 3 else 44))
            paths.append(path)
    with open(osp.join(root, CLASSES[0], 'notes.txt'), 'w') as f:
        f.write('not an image\n')
    with open(osp.join(root, 'LICENSE.txt'), 'w') as f:
        f.write('not a class\n')
    return sorted(paths)


def user_configs(dst, data_root, num_classes):
    """A copy of configs/ with the two lines a user edits changed."""
    shutil.copytree(osp.join(REPO, 'configs'), dst,
                    ignore=shutil.ignore_patterns('__pycache__'))
    path = osp.join(dst, 'dada_search_own_data.py')
    with open(path) as f:
        text = f.read()
    text, n_root = re.subn(r'^data_root = .*$', f'data_root = {data_root!r}', text,
                           flags=re.M)
    text, n_classes = re.subn(r'^num_classes = .*$', f'num_classes = {num_classes}', text,
                              flags=re.M)
    assert n_root == n_classes == 1
    with open(path, 'w') as f:
        f.write(text)
    return dst


def train(config, options, *extra):
    return _train_tool().main([config, *extra, '--cfg-options', *options])


@pytest.fixture(scope='module')
def recipe(tmp_path_factory):
    """The two commands of the recipe, run from a fresh directory; their runners."""
    from dada_mm.transforms import DADAAugment
    tmp = tmp_path_factory.mktemp('own_data')
    images = write_image_folder(str(tmp / 'my_images'))
    configs = user_configs(str(tmp / 'configs'), str(tmp / 'my_images'), len(CLASSES))
    calls = []
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp)
        mp.delenv('LOCAL_RANK', raising=False)
        mp.setattr(DefaultScope, '_instance_dict', dict(DefaultScope._instance_dict))
        search = train(osp.join(configs, 'dada_search_own_data.py'), SEARCH_OPTIONS)
        transform = DADAAugment.transform

        def spy(self, results):
            calls.append((results['img_path'], self.sub_policies))
            return transform(self, results)

        mp.setattr(DADAAugment, 'transform', spy)
        retrain = train(osp.join(configs, 'dada_retrain_own_data.py'), RETRAIN_OPTIONS)
    return dict(tmp=tmp, images=images, search=search, retrain=retrain, calls=calls)


def _search_hook(runner):
    from dada_mm.search import DADASearchHook
    (hook, ) = [h for h in runner.hooks if isinstance(h, DADASearchHook)]
    return hook


def _paths_and_labels(dataset):
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    return [(info['img_path'], int(info['gt_label'])) for info in infos]


def test_held_out_half_is_disjoint_from_search_train_and_covers_the_folder(recipe):
    runner = recipe['search']
    train_set = runner.train_dataloader.dataset
    held_out = _search_hook(runner).val_stream._dataset  # what the hook drew batches from
    assert (type(train_set).__name__, train_set.part) == ('ReducedSearchSplit',
                                                          'search_train')
    assert (type(held_out).__name__, held_out.part) == ('ReducedSearchSplit', 'search_val')
    train_items, held_items = _paths_and_labels(train_set), _paths_and_labels(held_out)
    train_paths = {p for p, _ in train_items}
    held_paths = {p for p, _ in held_items}
    assert not train_paths & held_paths
    assert sorted(train_paths | held_paths) == recipe['images']
    for path, label in train_items + held_items:  # labels are the sorted folder names
        assert CLASSES[label] == osp.basename(osp.dirname(path))
    for label in range(len(CLASSES)):  # 50/50 per class
        assert sum(lab == label for _, lab in train_items) == PER_CLASS // 2
        assert sum(lab == label for _, lab in held_items) == PER_CLASS // 2
    assert train_set.metainfo['classes'] == CLASSES
    # the held-out half goes through the test pipeline (nothing random)
    assert [type(t).__name__ for t in held_out.pipeline.transforms] == [
        'LoadImageFromFile', 'ResizeEdge', 'CenterCrop', 'PackInputs']
    # the proxy's accuracy is measured on the held-out half too, not on search-train
    assert {p for p, _ in _paths_and_labels(runner.val_dataloader.dataset)} == held_paths
    assert 0.0 <= runner.message_hub.get_scalar('val/accuracy/top1').current() <= 100.0


def test_search_writes_a_valid_policy_learned_on_the_held_out_half(recipe):
    from dada_mm.policy import export_top_k, load_policy_file
    work_dir = recipe['tmp'] / 'work_dirs' / 'dada_search_own_data'  # the default one
    hook = _search_hook(recipe['search'])
    iterations = SEARCH_EPOCHS * (len(CLASSES) * PER_CLASS // 2) // SEARCH_BATCH
    assert hook.updates == iterations and hook.skipped_updates == 0
    doc = load_policy_file(work_dir / 'dada_policy.json')  # validates every field
    assert doc['sub_policies'] == export_top_k(hook.policy, 25)
    assert len(doc['sub_policies']) == 25
    assert all(len(sub) == 2 for sub in doc['sub_policies'])
    meta = doc['meta']
    assert meta['epochs_done'] == SEARCH_EPOCHS and meta['frozen'] is False
    assert meta['search']['updates'] == iterations
    # the policy moved away from its starting point (every p = 0.5, uniform selection)
    assert any(abs(op['prob'] - 0.5) > 1e-4 for sub in doc['sub_policies'] for op in sub)
    history = json.loads((work_dir / 'dada_search_history.json').read_text())
    assert [e['epoch'] for e in history['epochs']] == list(range(1, SEARCH_EPOCHS + 1))
    assert np.ptp(history['epochs'][-1]['selection_probs']) > 0


def test_retraining_applies_the_searched_policy_with_DADAAugment_to_every_image(recipe):
    from dada_mm.policy import load_policy_file
    policy_file = recipe['tmp'] / 'work_dirs' / 'dada_search_own_data' / 'dada_policy.json'
    searched = load_policy_file(policy_file)['sub_policies']
    runner = recipe['retrain']
    dataset = runner.train_dataloader.dataset
    assert type(dataset).__name__ == 'CustomDataset'  # the whole folder, both halves
    assert sorted(p for p, _ in _paths_and_labels(dataset)) == recipe['images']
    names = [type(t).__name__ for t in dataset.pipeline.transforms]
    assert names[:4] == ['LoadImageFromFile', 'RandomResizedCrop', 'RandomFlip',
                         'DADAAugment']
    assert dataset.pipeline.transforms[3].sub_policies == searched
    calls = recipe['calls']  # one epoch: each image once, always with the searched policy
    assert sorted(path for path, _ in calls) == recipe['images']
    assert all(sub_policies == searched for _, sub_policies in calls)
    assert runner.epoch == 1 and runner.val_loop is None
    assert (recipe['tmp'] / 'work_dirs' / 'dada_retrain_own_data' / 'epoch_1.pth').is_file()


def test_num_classes_that_does_not_match_the_folders_stops_with_both_counts(tmp_path):
    images = str(tmp_path / 'my_images')
    write_image_folder(images)
    configs = user_configs(str(tmp_path / 'configs'), images, len(CLASSES) + 2)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        mp.delenv('LOCAL_RANK', raising=False)
        mp.setattr(DefaultScope, '_instance_dict', dict(DefaultScope._instance_dict))
        with pytest.raises(ValueError) as error:
            train(osp.join(configs, 'dada_search_own_data.py'), SEARCH_OPTIONS)
    message = str(error.value)
    assert message == (
        'ClassCountCheckHook: model.head.num_classes is 5, but the data set of '
        f"train_dataloader has 3 classes (the sub-folders of {images!r}: 'daisy', 'roses', "
        "'tulips'). Set num_classes = 3 in the config.")
    assert not (tmp_path / 'work_dirs' / 'dada_search_own_data' / 'dada_policy.json').exists()


def test_docs_show_both_configs_in_full():
    with open(osp.join(REPO, 'docs', 'own_data.md')) as f:
        doc = f.read()
    for name in ('dada_search_own_data', 'dada_retrain_own_data'):
        with open(osp.join(REPO, 'configs', f'{name}.py')) as f:
            assert f'`configs/{name}.py`:\n\n```python\n{f.read()}```\n' in doc, name
