# Copyright (c) tpr_mm contributors. All rights reserved.
import random

import numpy as np
import pytest
import torch
from PIL import Image

from tpr_mm.datasets.transforms import CLIP_MEAN, CLIP_STD, tokenize_caption
from tpr_mm.registry import TRANSFORMS


def _build(cfg):
    return TRANSFORMS.build(cfg)


def test_load_missing_and_corrupt_image_named(tmp_path):
    load = _build(dict(type='LoadPersonImage'))
    with pytest.raises(OSError, match='not found: .*nope.png'):
        load(dict(img_path=str(tmp_path / 'nope.png')))
    bad = tmp_path / 'bad.jpg'
    bad.write_bytes(b'not an image')
    with pytest.raises(OSError, match='bad.jpg'):
        load(dict(img_path=str(bad)))
    skip = _build(dict(type='LoadPersonImage', on_error='skip'))
    assert skip(dict(img_path=str(bad))) is None
    assert skip.num_skipped == 1


def test_load_resize_flip_crop_erase_pack(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, (37, 19, 3), dtype=np.uint8)
    path = tmp_path / 'a.png'
    Image.fromarray(arr).save(path)
    res = _build(dict(type='LoadPersonImage'))(
        dict(img_path=str(path), caption='a man', pid=3, sample_idx=0)
    )
    assert np.array_equal(res['img'], arr)
    res = _build(dict(type='Resize', scale=(11, 24), backend='pillow'))(res)
    expect = np.asarray(Image.fromarray(arr).resize((11, 24), Image.BILINEAR))
    assert np.array_equal(res['img'], expect)
    random.seed(0)
    flipped = _build(dict(type='RandomHorizontalFlip', prob=1.0))(dict(img=expect.copy()))
    assert np.array_equal(flipped['img'], expect[:, ::-1])
    crop = _build(dict(type='PadRandomCrop', padding=3))(dict(img=expect.copy()))
    assert crop['img'].shape == expect.shape
    erase = _build(dict(type='RandomErasingImage', prob=1.0, scale=(0.2, 0.3)))
    erased = erase(dict(img=expect.copy()))['img']
    fill = np.round([255 * (m + m * s) for m, s in zip(CLIP_MEAN, CLIP_STD)]).astype(np.uint8)
    assert (erased == fill).all(axis=-1).sum() > 0
    res['img'] = expect
    res = _build(dict(type='TokenizeCaption', context_length=9))(res)
    packed = _build(dict(type='PackTextReIDInputs'))(res)
    assert packed['inputs']['img'].shape == (3, 24, 11)
    assert packed['inputs']['img'].dtype == torch.uint8
    assert packed['inputs']['text'].shape == (9,)
    assert packed['data_samples'].pid == 3


def test_text_only_items_pass_image_transforms():
    item = dict(caption='a woman in red', pid=1, sample_idx=4)
    for cfg in (
        dict(type='LoadPersonImage'),
        dict(type='Resize', scale=(8, 16), backend='pillow'),
        dict(type='RandomHorizontalFlip'),
        dict(type='PadRandomCrop'),
        dict(type='RandomErasingImage', prob=1.0),
    ):
        item = _build(cfg)(item)
    assert 'img' not in item
    packed = _build(dict(type='PackTextReIDInputs'))(_build(dict(type='TokenizeCaption'))(item))
    assert set(packed['inputs']) == {'text'}


def test_tokenize_rules():
    ids, truncated = tokenize_caption('A man in a RED coat.', 77)
    assert ids[0] == 49406 and not truncated
    eot = int(np.argmax(ids))
    assert ids[eot] == 49407 and (ids[eot + 1 :] == 0).all()
    # Same ids as open_clip's tokenizer for ordinary captions.
    import open_clip

    ref = open_clip.tokenize(['A man in a RED coat.'], context_length=77)[0].numpy()
    assert np.array_equal(ids, ref)
    long = ' '.join(['word'] * 100)
    ids, truncated = tokenize_caption(long, 12)
    assert truncated and ids[-1] == 49407 and ids.shape == (12,) and (ids[1:-1] != 0).all()
    for bad in ('', '   \n\t'):
        with pytest.raises(ValueError, match='empty'):
            tokenize_caption(bad)


def test_tokenize_transform_counts_truncation_and_names_empty_item():
    tok = _build(dict(type='TokenizeCaption', context_length=5))
    for _ in range(3):
        tok(dict(caption='one two three four five six'))
    assert tok.num_truncated == 3
    with pytest.raises(ValueError, match='x.png'):
        tok(dict(caption=' ', img_path='x.png'))


def test_preprocessor_normalises_and_stacks():
    from tpr_mm.registry import MODELS

    pre = MODELS.build(dict(type='TextReIDDataPreprocessor', mean=(10, 20, 30), std=(2, 4, 5)))
    img = torch.full((3, 4, 2), 40, dtype=torch.uint8)
    out = pre(
        dict(
            inputs=dict(img=[img, img], text=[torch.arange(5), torch.arange(5)]),
            data_samples=[None, None],
        )
    )
    assert out['inputs']['img'].shape == (2, 3, 4, 2)
    assert torch.allclose(out['inputs']['img'][0, :, 0, 0], torch.tensor([15.0, 5.0, 2.0]))
    assert out['inputs']['text'].dtype == torch.long
