"""tools/plot_search.py (a search history drawn, and its errors) and what
tools/vis_policy.py writes on its picture (fired ops, box colour and thickness)."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from dada_mm.search.history import SearchHistory
from dada_mm.search.policy_params import PolicyParameters
from tools.plot_search import FIGURES
from tools.plot_search import main as plot_search
from tools.vis_policy import main as vis_policy


def write_history(path, epochs=3):
    """A history as the search writes it, of a policy that drifts a little every epoch."""
    policy, history = PolicyParameters(), SearchHistory()
    g = torch.Generator().manual_seed(0)
    for epoch in range(1, epochs + 1):
        with torch.no_grad():
            policy.alpha.add_(0.3 * torch.randn(105, generator=g))
            policy.probs.add_(0.05 * torch.randn(105, 2, generator=g))
            policy.magnitudes.add_(0.05 * torch.randn(105, 2, generator=g))
        history.record(epoch, 10 * epoch, policy)
    history.write(path)
    return str(path)


def _check_png(path):
    assert osp.getsize(path) > 0, path
    img = cv2.imread(str(path))
    assert img is not None and img.shape[0] > 200 and img.shape[1] > 400, path
    assert float(img.std()) > 5.0, f'{path} is (nearly) blank'


# ------------------------------------------------------------------------ plot_search
def test_plot_search_draws_a_history(tmp_path, capsys):
    history = write_history(tmp_path / 'run' / 'dada_search_history.json')
    assert plot_search([history, '--out', str(tmp_path / 'plots'), '--top', '3',
                        '--vis-dir', str(tmp_path / 'vis')]) == 0
    for name in FIGURES:
        _check_png(tmp_path / 'plots' / name)
        stem = osp.splitext(name)[0]
        assert osp.isfile(tmp_path / 'vis' / 'vis_data' / 'vis_image' / f'{stem}_0.png')
    out = capsys.readouterr().out
    assert '3 search epoch(s) (the last: epoch 3)' in out
    assert str(tmp_path / 'plots' / FIGURES[0]) in out
    # without --out: next to the history
    assert plot_search([history]) == 0
    for name in FIGURES:
        _check_png(tmp_path / 'run' / name)


def _error(capsys, argv):
    assert plot_search(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ''
    return captured.err.strip()


def test_plot_search_names_the_file_and_what_is_wrong(tmp_path, capsys):
    missing = str(tmp_path / 'nowhere.json')
    assert _error(capsys, [missing]) == f'plot_search: error: no such file: {missing}'

    bad = tmp_path / 'bad.json'
    bad.write_text('{"sub_policies": [')
    err = _error(capsys, [str(bad)])
    assert err.startswith(f'plot_search: error: {bad}: not a DADA search history: not JSON')

    good = json.load(open(write_history(tmp_path / 'good.json')))

    def broken(name, change):
        doc = json.loads(json.dumps(good))
        change(doc)
        path = tmp_path / name
        path.write_text(json.dumps(doc))
        return str(path)

    path = broken('no_epochs.json', lambda d: d.pop('epochs'))
    assert _error(capsys, [path]) == (f'plot_search: error: {path}: not a DADA search '
                                      'history: missing key "epochs"')
    path = broken('no_subs.json', lambda d: d.pop('sub_policies'))
    assert _error(capsys, [path]) == (f'plot_search: error: {path}: not a DADA search '
                                      'history: missing key "sub_policies"')
    path = broken('no_mags.json', lambda d: d['epochs'][1].pop('magnitudes'))
    assert _error(capsys, [path]) == (f'plot_search: error: {path}: epochs[1] has no key '
                                      '"magnitudes"')
    path = broken('short.json', lambda d: d['epochs'][2].update(probs=[[0.5, 0.5]]))
    assert _error(capsys, [path]) == (
        f'plot_search: error: {path}: epochs[2]["probs"] must be numbers of shape '
        '(105, 2) (105 sub-policies), got shape (1, 2)')
    path_list = tmp_path / 'list.json'
    path_list.write_text('[]')
    assert 'a JSON object with keys "sub_policies" and "epochs" is expected, got list' in \
        _error(capsys, [str(path_list)])
    path = broken('empty.json', lambda d: d.update(epochs=[]))
    assert _error(capsys, [path]) == (f'plot_search: error: {path}: no search epoch '
                                      'recorded yet ("epochs" is empty): nothing to draw')
    assert not any(osp.exists(tmp_path / name) for name in FIGURES)


def test_plot_search_refuses_a_bad_top(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        plot_search([write_history(tmp_path / 'h.json'), '--top', '0'])
    assert exit_info.value.code == 2
    assert '--top must be >= 1, got 0' in capsys.readouterr().err


# ------------------------------------------------------------------------ vis_policy
POLICY = {'version': 1, 'meta': {}, 'sub_policies': [
    [{'op': 'TranslateX', 'prob': 1.0, 'magnitude': 0.75},
     {'op': 'Brightness', 'prob': 0.0, 'magnitude': 0.5}],
    [{'op': 'ShearX', 'prob': 0.0, 'magnitude': 0.3},
     {'op': 'Color', 'prob': 0.0, 'magnitude': 0.9}]]}
BOX = (20, 16, 36, 40)


@pytest.fixture
def picture(tmp_path):
    img = np.full((64, 80, 3), 90, np.uint8)
    img[BOX[1]:BOX[3], BOX[0]:BOX[2]] = 200
    image, policy = str(tmp_path / 'img.png'), str(tmp_path / 'policy.json')
    cv2.imwrite(image, img)
    json.dump(POLICY, open(policy, 'w'))
    return policy, image


def test_vis_policy_writes_the_fired_ops_and_draws_boxes_as_asked(tmp_path, picture):
    policy, image = picture
    out = str(tmp_path / 'vis.png')
    assert vis_policy([policy, image, '--boxes', ','.join(map(str, BOX)), '--out', out,
                       '--samples', '3', '--cell', '160', '--box-color', 'red',
                       '--box-thickness', '3']) == 0
    grid = cv2.imread(out)
    layout = json.load(open(tmp_path / 'vis.json'))
    assert layout['box_color'] == [255, 0, 0] and layout['box_thickness'] == 3
    cells = layout['cells']
    assert len(cells) == 2 * (1 + 3)
    for cell in cells:
        x0, y0, w, h = cell['x0'], cell['y0'], cell['width'], cell['height']
        # which ops fired, with their magnitudes, written under the drawn cells
        if cell['draw'] == 0:
            expected = []
        elif cell['row'] == 0:
            expected = ['TranslateX m=0.75']
        else:
            expected = ['no op fired']
        assert cell['caption'] == expected, cell
        below = grid[y0 + h:y0 + h + 20, x0:x0 + w]
        assert below.min() < 100 if expected else below.min() == 255
        # the box: red (BGR 0, 0, 255), 3 pixels wide inward from the moved box's left
        # edge
        sx, sy = cell['scale']
        (bx1, by1, bx2, by2), = cell['boxes']
        px, py = int(round(bx1 * sx)), int(round((by1 + by2) / 2 * sy))
        tile = grid[y0:y0 + h, x0:x0 + w]
        assert 1 <= px < w - 3
        red = [tuple(tile[py, px + d]) == (0, 0, 255) for d in range(-1, 4)]
        assert red == [False, True, True, True, False], (cell, red)
    # the default is still a green line one pixel wide
    assert vis_policy([policy, image, '--boxes', ','.join(map(str, BOX)), '--out', out,
                       '--samples', '1', '--cell', '160']) == 0
    grid = cv2.imread(out)
    cell = json.load(open(tmp_path / 'vis.json'))['cells'][0]
    sx, sy = cell['scale']
    px, py = int(round(BOX[0] * sx)), int(round((BOX[1] + BOX[3]) / 2 * sy))
    tile = grid[cell['y0']:, cell['x0']:]
    assert tuple(tile[py, px]) == (0, 255, 0) and tuple(tile[py, px + 1]) != (0, 255, 0)


@pytest.mark.parametrize('option, value, expected', [
    ('--box-color', 'purple', 'expected one of green, red, blue, yellow, cyan, magenta, '
                              "white, black, orange or R,G,B with each 0..255, got 'purple'"),
    ('--box-color', '300,0,0', "R,G,B with each 0..255, got '300,0,0'"),
    ('--box-color', '255,0', "R,G,B with each 0..255, got '255,0'"),
    ('--box-thickness', '0', "expected an integer from 1 to 20 (pixels), got '0'"),
    ('--box-thickness', '21', "expected an integer from 1 to 20 (pixels), got '21'"),
    ('--box-thickness', 'thick', "expected an integer from 1 to 20 (pixels), got 'thick'"),
])
def test_vis_policy_box_options_name_the_option_and_the_allowed_values(
        picture, capsys, option, value, expected):
    policy, image = picture
    with pytest.raises(SystemExit) as exit_info:
        vis_policy([policy, image, option, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f'argument {option}: expected ' in err and expected in err


def test_box_colour_accepts_r_g_b(tmp_path, picture):
    policy, image = picture
    out = str(tmp_path / 'vis.png')
    assert vis_policy([policy, image, '--boxes', ','.join(map(str, BOX)), '--out', out,
                       '--samples', '1', '--box-color', '10,20,250']) == 0
    grid = cv2.imread(out)
    cell = json.load(open(tmp_path / 'vis.json'))['cells'][0]
    sx, sy = cell['scale']
    px, py = int(round(BOX[0] * sx)), int(round((BOX[1] + BOX[3]) / 2 * sy))
    assert tuple(grid[cell['y0'] + py, cell['x0'] + px]) == (250, 20, 10)  # BGR


def test_detection_policy_captions_give_the_published_level():
    from dada_mm.policy import load_preset
    from dada_mm.visualization import policy_sample_grid
    img = np.full((48, 64, 3), 60, np.uint8)
    img[8:40, 10:50] = (0, 180, 255)
    _, layout = policy_sample_grid('zoph-det-v0', [img], boxes=[[[10, 8, 50, 40]]],
                                   top_k=5, draws=4, seed=0, cell=96)
    subs = load_preset('zoph-det-v0')['sub_policies'][:5]
    fired = 0
    for cell in layout:
        if cell['draw'] == 0:
            assert cell['caption'] == []
            continue
        sub = subs[cell['row']]
        if not cell['applied']:
            assert cell['caption'] == ['no op fired']
            continue
        levels = {op['op']: op['magnitude'] * 10 for op in sub}
        assert cell['caption'] == [f'{name} L={levels[name]:g}'
                                   for name in cell['applied']]
        fired += 1
    assert fired > 0
