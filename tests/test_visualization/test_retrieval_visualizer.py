# Copyright (c) tpr_mm contributors. All rights reserved.
"""RetrievalVisualizer: layout against a naive statement, outputs, shared use."""

import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.visualization import Visualizer
from mmpretrain.structures import DataSample
from mmpretrain.visualization import UniversalVisualizer
from PIL import Image

from tpr_mm.apis import draw_result_grid
from tpr_mm.registry import VISUALIZERS
from tpr_mm.visualization import RetrievalHit, RetrievalQuery, RetrievalVisualizer
from tpr_mm.visualization.retrieval_visualizer import FRAME, LABEL_H, LINE_H, PAD

TH, TW = 20, 10


def _solid(tmp_path, name, colour):
    path = str(tmp_path / f'{name}.png')
    Image.new('RGB', (7, 13), colour).save(path)
    return path


@pytest.fixture(scope='module')
def vis():
    return VISUALIZERS.build(
        dict(type='RetrievalVisualizer', name='test_retrieval_vis', thumb_size=(TH, TW))
    )


def test_built_by_name_on_mmpretrains_and_mmengines_visualizer(vis):
    assert isinstance(vis, RetrievalVisualizer)
    assert isinstance(vis, UniversalVisualizer) and isinstance(vis, Visualizer)


def test_layout_matches_a_naive_statement(vis, tmp_path):
    blue = _solid(tmp_path, 'blue', (0, 0, 255))
    hits = [RetrievalHit(blue, 0.9 - k / 10, correct=k % 2 == 0) for k in range(5)]
    hits[3] = RetrievalHit(str(tmp_path / 'missing.jpg'), 0.1, correct=None)
    queries = [RetrievalQuery('a person in a red jacket', hits), RetrievalQuery('x', hits[:1])]
    image = vis.draw_retrieval_grid(queries, cols=2, draw_labels=True, caption_lines=2)
    # naive statement: panel = caption block + rows of (frame + thumb + labels) cells
    cell_w, cell_h = TW + 2 * FRAME, TH + 2 * FRAME + LABEL_H
    rows = [3, 1]
    height = PAD + sum(LINE_H * 2 + r * (cell_h + PAD) for r in rows)
    assert image.shape == (height, 400, 3) and image.dtype == np.uint8  # min width 400
    np.testing.assert_array_equal(vis.get_image().shape, image.shape)
    y0 = PAD + LINE_H * 2
    for k, hit in enumerate(hits):
        x, top = PAD + (k % 2) * (cell_w + PAD), y0 + (k // 2) * (cell_h + PAD)
        corner = tuple(image[top + 1, x + 1])
        centre = tuple(image[top + FRAME + TH // 2, x + FRAME + TW // 2])
        if hit.correct is None:  # no frame; unreadable image drawn grey
            assert corner == (255, 255, 255) and centre == (128, 128, 128)
        else:
            assert corner == ((0, 170, 0) if hit.correct else (220, 0, 0)), k
            assert centre == (0, 0, 255), k
    second = PAD + LINE_H * 2 + 3 * (cell_h + PAD) + LINE_H * 2
    assert tuple(image[second + 1, PAD + 1]) == (0, 170, 0)


def test_visualize_writes_the_file_or_the_backend(tmp_path):
    red = _solid(tmp_path, 'red', (255, 0, 0))
    queries = [RetrievalQuery('q', [RetrievalHit(red, 0.5, True)])]
    vis = RetrievalVisualizer(
        name='test_retrieval_vis_backend',
        thumb_size=(TH, TW),
        vis_backends=[dict(type='LocalVisBackend')],
        save_dir=str(tmp_path / 'vis'),
    )
    out = str(tmp_path / 'out' / 'grid.png')
    image = vis.visualize_retrieval(queries, out_file=out)
    with Image.open(out) as img:
        np.testing.assert_array_equal(np.asarray(img.convert('RGB')), image)
    vis.visualize_retrieval(queries, name='grid', step=3)
    assert glob.glob(osp.join(str(tmp_path / 'vis'), '**', 'grid_3.png'), recursive=True)


def test_api_grid_is_the_visualizers_drawing(tmp_path):
    red = _solid(tmp_path, 'red', (255, 0, 0))
    results = [(red, 0.75), (str(tmp_path / 'nope.png'), 0.5)]
    grid = np.asarray(draw_result_grid('a long caption ' * 8, results, cols=1, thumb_size=(TH, TW)))
    vis = RetrievalVisualizer(name='test_retrieval_vis_api', thumb_size=(TH, TW))
    hits = [RetrievalHit(p, s) for p, s in results]
    expected = vis.draw_retrieval_grid(
        [RetrievalQuery('a long caption ' * 8, hits)], cols=1, draw_labels=True, caption_lines=4
    )
    np.testing.assert_array_equal(grid, expected)


def test_mmpretrains_t2i_drawing_is_inherited(vis, tmp_path):
    paths = [_solid(tmp_path, f'c{k}', (40 * k, 0, 0)) for k in range(3)]

    class Prototypes:  # the part of a BaseDataset visualize_t2i_retrieval reads
        def get_data_info(self, idx):
            return dict(img_path=paths[idx])

    sample = DataSample().set_pred_score(torch.tensor([0.1, 0.9, 0.5]))
    drawn = vis.visualize_t2i_retrieval('a caption', sample, Prototypes(), topk=2)
    assert drawn.ndim == 3 and drawn.shape[2] == 3 and drawn.dtype == np.uint8
