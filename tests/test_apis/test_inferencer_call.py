# Copyright (c) tpr_mm contributors. All rights reserved.
"""MMEngine ``BaseInferencer`` call conventions of TextImageInferencer."""

import numpy as np
import pytest
from mmengine.infer import BaseInferencer
from PIL import Image
from search_helpers import write_person_images

from tpr_mm.apis import GalleryIndex, TextImageInferencer
from tpr_mm.structures import TextReIDDataSample
from tpr_mm.visualization import RetrievalHit, RetrievalQuery, RetrievalVisualizer

CAPTIONS = ['a woman in a red coat', 'a man with blue trousers', 'a person with a green bag']


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    return write_person_images(str(tmp_path_factory.mktemp('call_imgs')), 6, seed=5)


@pytest.fixture(scope='module')
def inferencer(tiny_model):
    return TextImageInferencer(tiny_model[0], tiny_model[1])


def _gallery(inf, images):
    feats = inf.encode_images(images)
    return GalleryIndex(feats.shape[1], 'flat', fingerprint=inf.fingerprint()).build(feats, images)


def test_call_returns_predictions_like_the_encoders(inferencer, images):
    assert isinstance(inferencer, BaseInferencer)
    out = inferencer(CAPTIONS, batch_size=2)
    assert set(out) == {'predictions', 'visualization'} and out['visualization'] is None
    got = np.array([p['embedding'] for p in out['predictions']], dtype=np.float32)
    np.testing.assert_allclose(got, inferencer.encode_texts(CAPTIONS), atol=1e-6)
    one = inferencer(CAPTIONS[0])['predictions']  # a single caption is one input
    np.testing.assert_allclose(one[0]['embedding'], got[0], atol=1e-6)
    imgs = inferencer([dict(img_path=p) for p in images], batch_size=4)['predictions']
    np.testing.assert_allclose(
        np.array([p['embedding'] for p in imgs]), inferencer.encode_images(images), atol=1e-6
    )


def test_call_with_a_gallery_ranks_like_the_index(tiny_model, images):
    plain = TextImageInferencer(tiny_model[0], tiny_model[1])
    gallery = _gallery(plain, images)
    inf = TextImageInferencer(tiny_model[0], tiny_model[1], gallery=gallery)
    preds = inf(CAPTIONS, topk=3)['predictions']
    expect = gallery.search_paths(inf.encode_texts(CAPTIONS), 3)
    for pred, hits in zip(preds, expect):
        assert pred['match_paths'] == [p for p, _ in hits]
        np.testing.assert_allclose(pred['match_scores'], [s for _, s in hits], atol=1e-6)
    samples = inf(CAPTIONS[:2], return_datasamples=True, batch_size=2, topk=2)['predictions']
    assert all(isinstance(s, TextReIDDataSample) for s in samples)
    assert samples[0].text_feat.shape == (32,) and samples[0].match_score.shape == (2,)
    assert samples[1].caption == CAPTIONS[1]
    assert 'match_paths' not in inf([dict(img_path=images[0])])['predictions'][0]


def test_visualize_draws_one_retrieval_grid_per_query(tiny_model, images, tmp_path):
    plain = TextImageInferencer(tiny_model[0], tiny_model[1])
    inf = TextImageInferencer(tiny_model[0], tiny_model[1], gallery=_gallery(plain, images))
    out = inf(CAPTIONS[:2], topk=4, show_dir=str(tmp_path / 'vis'), draw_score=True)
    grids = out['visualization']
    assert len(grids) == 2 and grids[0].ndim == 3 and grids[0].dtype == np.uint8
    for i, grid in enumerate(grids):
        assert np.array_equal(np.asarray(Image.open(tmp_path / 'vis' / f'{i}.png')), grid)
    # drawn by the visualizer the tools use, from the returned ranking
    pred = out['predictions'][0]
    hits = [RetrievalHit(p, s) for p, s in zip(pred['match_paths'], pred['match_scores'])]
    expect = RetrievalVisualizer.get_instance('check_call').draw_retrieval_grid(
        [RetrievalQuery(CAPTIONS[0], hits)], draw_labels=True, caption_lines=4
    )
    assert np.array_equal(grids[0], expect)
    assert inf(CAPTIONS[:1])['visualization'] is None  # nothing drawn unless asked


def test_call_errors_name_the_input(inferencer, images, tmp_path):
    with pytest.raises(ValueError, match='input 1 mixes images and captions'):
        inferencer([CAPTIONS[0], dict(img_path=images[0])])
    with pytest.raises(ValueError, match='query text 1'):
        inferencer(['fine', ' '])
    with pytest.raises(ValueError, match='input 0 must be a caption'):
        inferencer([3])
    with pytest.raises(ValueError, match='unknown'):
        inferencer(CAPTIONS, top_k=3)  # MMEngine's kwarg dispatch refuses typos
    folder = tmp_path / 'a man'  # a caption that names a folder stays a caption
    folder.mkdir()
    (folder / 'x.png').write_bytes(b'')
    pred = inferencer(str(folder))['predictions']
    assert len(pred) == 1 and len(pred[0]['embedding']) == 32
