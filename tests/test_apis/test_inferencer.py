# Copyright (c) tpr_mm contributors. All rights reserved.
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image
from search_helpers import save_tiny_checkpoint, tiny_search_config, write_person_images

from tpr_mm.apis import TextImageInferencer
from tpr_mm.datasets.transforms import tokenize_caption
from tpr_mm.engine.runner import mmengine_safe_globals
from tpr_mm.models.data_preprocessors.text_reid_preprocessor import CLIP_MEAN_255, CLIP_STD_255


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    return write_person_images(str(tmp_path_factory.mktemp('imgs')), 7, seed=3)


def _reference_image_feats(model, paths):
    """Hand-written test transform: PIL bilinear resize to 32x16, CLIP norm."""
    mean = torch.tensor(CLIP_MEAN_255).view(3, 1, 1)
    std = torch.tensor(CLIP_STD_255).view(3, 1, 1)
    batch = []
    for p in paths:
        img = Image.open(p).convert('RGB').resize((16, 32), Image.BILINEAR)
        x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float()
        batch.append((x - mean) / std)
    with torch.no_grad():
        feats = model.backbone.encode_image(torch.stack(batch))['global']
    return torch.nn.functional.normalize(feats, dim=-1).numpy()


def test_image_and_text_embeddings_match_a_hand_written_reference(tiny_model, images):
    cfg_path, ckpt_a, _ = tiny_model
    inf = TextImageInferencer(cfg_path, ckpt_a, batch_size=3)
    feats = inf.encode_images(images)
    assert feats.shape == (7, 32) and feats.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(feats, _reference_image_feats(inf.model, images), atol=1e-5)
    captions = ['a woman in a red coat', 'a man wearing blue trousers and a black backpack']
    text = inf.encode_texts(captions)
    ids = torch.from_numpy(np.stack([tokenize_caption(c, 24)[0] for c in captions]))
    with torch.no_grad():
        ref = torch.nn.functional.normalize(inf.model.backbone.encode_text(ids)['global'], dim=-1)
    np.testing.assert_allclose(text, ref.numpy(), atol=1e-5)


def test_checkpoint_weights_are_loaded(tiny_model, images):
    cfg_path, ckpt_a, ckpt_b = tiny_model
    a = TextImageInferencer(cfg_path, ckpt_a)
    b = TextImageInferencer(cfg_path, ckpt_b)
    with mmengine_safe_globals():
        raw = torch.load(ckpt_a, map_location='cpu', weights_only=True)['state_dict']
    for key, value in a.model.state_dict().items():
        torch.testing.assert_close(value, raw[key], msg=key)
    assert not np.allclose(a.encode_images(images[:2]), b.encode_images(images[:2]), atol=1e-3)


def test_batch_size_does_not_change_embeddings(tiny_model, images):
    cfg_path, ckpt_a, _ = tiny_model
    inf = TextImageInferencer(cfg_path, ckpt_a)
    np.testing.assert_allclose(
        inf.encode_images(images, batch_size=1), inf.encode_images(images, batch_size=5), atol=1e-5
    )
    texts = [f'a person with a {c} bag' for c in ('red', 'green', 'pink')]
    np.testing.assert_allclose(
        inf.encode_texts(texts, batch_size=2),
        np.concatenate([inf.encode_texts([t]) for t in texts]),
        atol=1e-5,
    )
    assert inf.encode_images([]).shape == (0, 32)


def test_fingerprint_tracks_weights_not_file_location(tiny_model, tmp_path):
    cfg_path, ckpt_a, ckpt_b = tiny_model
    fp_a = TextImageInferencer(cfg_path, ckpt_a).fingerprint()
    assert fp_a['embed_dim'] == 32 and len(fp_a['checkpoint']['sha256']) == 64
    copy = str(tmp_path / 'copy_of_a.pth')
    shutil.copy(ckpt_a, copy)
    redumped = str(tmp_path / 'same_config.py')
    Config.fromfile(cfg_path).dump(redumped)
    assert TextImageInferencer(redumped, copy).fingerprint() == fp_a
    fp_b = TextImageInferencer(cfg_path, ckpt_b).fingerprint()
    assert fp_b['checkpoint'] != fp_a['checkpoint'] and fp_b['model'] == fp_a['model']
    cfg = tiny_search_config(img_size=(40, 16))
    assert TextImageInferencer(cfg, None).fingerprint()['pipeline'] != fp_a['pipeline']


def test_errors_name_the_bad_input(tiny_model, tmp_path):
    cfg_path, ckpt_a, _ = tiny_model
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        TextImageInferencer(cfg_path, str(tmp_path / 'missing.pth'))
    # a checkpoint of another architecture is refused (strict key/shape match)
    other = tiny_search_config(ctx=20)
    other_ckpt = save_tiny_checkpoint(other, str(tmp_path / 'other.pth'), seed=0)
    with pytest.raises(RuntimeError, match='positional_embedding'):
        TextImageInferencer(cfg_path, other_ckpt)
    inf = TextImageInferencer(cfg_path, ckpt_a)
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'not a png')
    with pytest.raises(OSError, match='broken.png'):
        inf.encode_images([str(broken)])
    with pytest.raises(ValueError, match='query text 1'):
        inf.encode_texts(['fine', '  '])
    with pytest.raises(KeyError, match='test_pipeline'):
        TextImageInferencer(Config(dict(model=Config.fromfile(cfg_path).model)))
