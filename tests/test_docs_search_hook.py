"""docs/search_hook.md lists exactly DADASearchHook's arguments with their defaults, and the
README's search config is a valid config as written."""
import inspect
import os.path as osp
import re

from dada_mm.search.hook import DADASearchHook
from dada_mm.search.presets import LEARNER_KEYS, REWARD_KEYS, SEARCH_PRESETS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _section(title):
    """The text of docs/search_hook.md from the heading ``title`` to the next heading."""
    with open(osp.join(REPO, 'docs', 'search_hook.md'), encoding='utf-8') as f:
        text = f.read()
    return re.split(r'\n#+ ', text.split(f'\n{title}\n', 1)[1], maxsplit=1)[0]


def _table_rows():
    """(argument, default) of each row of the arguments' table."""
    return re.findall(r'^\| `(\w+)` \| `([^`]*)`', _section('## Options'), re.M)


def _preset_rows(title):
    """key -> (its 'default' cell, its 'paper' cell) of the table under ``title``."""
    rows = re.findall(r'^\| `(\w+)` \| `([^`]*)` \|(?: `([^`]*)`)? \|', _section(title),
                      re.M)
    return {key: (default, paper or default) for key, default, paper in rows}


def _signature():
    params = inspect.signature(DADASearchHook.__init__).parameters
    return {name: p.default for name, p in params.items()
            if name != 'self' and p.kind is not p.VAR_KEYWORD}


def test_options_table_lists_exactly_the_arguments():
    names = [name for name, _ in _table_rows()]
    assert len(names) == len(set(names)), 'an argument is listed twice'
    signature = _signature()
    assert names == list(signature), 'list exactly the arguments, in the signature\'s order'


def test_options_table_defaults_match_the_signature():
    signature = _signature()
    wrong = {name: (default, repr(signature[name])) for name, default in _table_rows()
             if name in signature and default != repr(signature[name])}
    assert not wrong, f'documented default vs signature: {wrong}'


def _value(cell):
    return eval(cell, {'__builtins__': {}, 'dict': dict})


def test_reward_and_learner_tables_list_the_keys_with_both_presets():
    for title, part, keys in [('### `reward`', 'reward', REWARD_KEYS),
                              ('### `learner`', 'learner', LEARNER_KEYS)]:
        rows = _preset_rows(title)
        assert list(rows) == list(keys), f'{title}: list exactly {keys}, in that order'
        for key, cells in rows.items():
            values = tuple(map(_value, cells))
            expected = tuple(SEARCH_PRESETS[name][part][key] for name in ('default', 'paper'))
            assert values == expected, f'{title} {key}: documented {cells}, preset {expected}'


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
    assert set(hook) - {'type'} <= set(_signature())  # no deprecated flat keyword
    train, held_out = cfg.train_dataloader.dataset, hook['val_dataloader']['dataset']
    assert (train.type, train.part, held_out.type, held_out.part) == \
        ('HeldOutSplit', 'train', 'HeldOutSplit', 'held_out')
    assert (train.held_out, train.seed) == (held_out.held_out, held_out.seed)
    types = [t['type'] for t in held_out.dataset.pipeline]
    assert 'RandomResizedCrop' in [t['type'] for t in train.dataset.pipeline]
    assert not {'RandomResizedCrop', 'RandomFlip', 'DADAAugment'} & set(types)
