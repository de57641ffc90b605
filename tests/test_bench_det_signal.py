"""The detector's reward-signal benchmark (benchmarks/bench_det_signal.py) at a tiny size:
ops at their identity level score exactly as the clean image (the candidates are paired on
the same images and boxes), a real op does not, and the results file records its commit.

Imports the benchmark because the benchmark itself is what is tested here.
"""
import importlib.util
import json
import os.path as osp

import pytest

pytest.importorskip('mmdet')
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))




def test_identity_ops_score_as_the_clean_image_and_invert_does_not(tmp_path):
    spec = importlib.util.spec_from_file_location(
        'bench_det_signal', osp.join(REPO, 'benchmarks', 'bench_det_signal.py'))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / 'signal.json'
    # --level 0.5: the signed ops and the enhance ops are the identity there
    record = bench.main(['--variants', 'dark', '--epochs', '1', '--images', '3',
                         '--held-out-images', '2', '--train-images', '16', '--test-images', '4',
                         '--size', '64', '80', '--level', '0.5', '--threads', '1',
                         '--work-dir', str(tmp_path / 'work'), '--out', str(out)])
    (row, ) = record['results']
    assert row['shift'] == 'dark' and row['undo_op'] == 'Brightness' and row['epochs'] == 1
    assert sorted(row['order']) == sorted(row['ops']) and len(row['ops']) == 15
    for op in ('Rotate', 'ShearX', 'TranslateY', 'Color', 'Contrast', 'Sharpness'):
        assert row['ops'][op]['mean'] == 0.0 and row['ops'][op]['se'] == 0.0, op
    assert row['ops']['Invert']['se'] > 0.0 and row['undo']['se'] > 0.0
    saved = json.loads(out.read_text())
    assert len(saved['provenance']['commit']) == 40 and saved['results'][0]['rank'] == row['rank']
