"""docs/search_hook.md lists exactly DADASearchHook's arguments with their defaults, and the
README's search config is a valid config as written."""
import inspect
import os.path as osp
import re

from dada_mm.search.hook import DADASearchHook

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# accepted for old configs, warned about, and not documented
DEPRECATED = {'project'}


def _table_rows():
    """(argument, default) of each row of the "Options" table."""
    with open(osp.join(REPO, 'docs', 'search_hook.md'), encoding='utf-8') as f:
        text = f.read()
    section = text.split('\n## Options\n', 1)[1].split('\n## ', 1)[0]
    return re.findall(r'^\| `(\w+)` \| `([^`]*)`', section, re.M)


def _signature():
    params = inspect.signature(DADASearchHook.__init__).parameters
    return {name: p.default for name, p in params.items() if name != 'self'}


def test_options_table_lists_exactly_the_arguments():
    names = [name for name, _ in _table_rows()]
    assert len(names) == len(set(names)), 'an argument is listed twice'
    signature = _signature()
    assert DEPRECATED <= set(signature), 'a deprecated name is gone: drop it from DEPRECATED'
    assert set(names) == set(signature) - DEPRECATED, (
        f'missing from the table: {sorted(set(signature) - DEPRECATED - set(names))}; '
        f'not arguments: {sorted(set(names) - set(signature))}')
    assert names == [n for n in signature if n not in DEPRECATED], \
        'list the arguments in the order of the signature'


def test_options_table_defaults_match_the_signature():
    signature = _signature()
    wrong = {name: (default, repr(signature[name])) for name, default in _table_rows()
             if name in signature and default != repr(signature[name])}
    assert not wrong, f'documented default vs signature: {wrong}'


def test_readme_search_config_parses(tmp_path):
    """The first Python block of the README is a config: it loads, and its hook has a
    held-out loader on the held-out side of the same split as the training set."""
    from mmengine.config import Config
    with open(osp.join(REPO, 'README.md'), encoding='utf-8') as f:
        block = f.read().split('```python\n', 1)[1].split('```', 1)[0]
    path = tmp_path / 'search.py'
    path.write_text(block)
    cfg = Config.fromfile(str(path))
    hook = cfg.custom_hooks[0]
    assert hook['type'] == 'DADASearchHook'
    assert set(hook) - {'type'} <= set(_signature())
    train, held_out = cfg.train_dataloader.dataset, hook['val_dataloader']['dataset']
    assert (train.type, train.part, held_out.type, held_out.part) == \
        ('HeldOutSplit', 'train', 'HeldOutSplit', 'held_out')
    assert (train.held_out, train.seed) == (held_out.held_out, held_out.seed)
    types = [t['type'] for t in held_out.dataset.pipeline]
    assert 'RandomResizedCrop' in [t['type'] for t in train.dataset.pipeline]
    assert not {'RandomResizedCrop', 'RandomFlip', 'DADAAugment'} & set(types)
