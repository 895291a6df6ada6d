# Copyright (c) tpr_mm contributors. All rights reserved.
import json
import random

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from PIL import Image

from tpr_mm.datasets import CUHKPEDES, SupportSetDataset
from tpr_mm.datasets.support_set_dataset import draw_support
from tpr_mm.models.data_preprocessors import SupportSetDataPreprocessor

# identity -> (images, captions per image); 'b' has one image and one caption.
LAYOUT = {1: (3, 2), 2: (1, 1), 3: (2, 1), 4: (1, 3), 5: (4, 2)}
init_default_scope('tpr_mm')
PIPELINE = [
    {'type': 'LoadPersonImage'},
    {'type': 'Resize', 'scale': (8, 16), 'backend': 'pillow'},
    {'type': 'PadRandomCrop', 'padding': 2},
    {'type': 'TokenizeCaption', 'context_length': 16},
    {'type': 'PackTextReIDInputs'},
]


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp('support')
    (root / 'imgs').mkdir()
    rng = np.random.default_rng(0)
    records = []
    for pid, (n_img, n_cap) in LAYOUT.items():
        for j in range(n_img):
            name = f'{pid}_{j}.png'
            Image.fromarray(rng.integers(0, 255, (20, 9, 3), dtype=np.uint8)).save(
                root / 'imgs' / name
            )
            caps = [f'person {pid} view {j} caption {c}' for c in range(n_cap)]
            records.append(
                {
                    'split': 'train',
                    'id': pid,
                    'file_path': name,
                    'captions': caps,
                    'processed_tokens': [],
                }
            )
    records.append(
        {
            'split': 'test',
            'id': 99,
            'file_path': '1_0.png',
            'captions': ['x'],
            'processed_tokens': [],
        }
    )
    (root / 'reid_raw.json').write_text(json.dumps(records))
    return str(root)


def _wrapped(root, k_img=2, k_txt=3, **kwargs):
    inner = dict(
        type='CUHKPEDES',
        data_root=root,
        split='train',
        modality='pair',
        pipeline=PIPELINE,
        **kwargs,
    )
    return SupportSetDataset(inner, num_img_support=k_img, num_text_support=k_txt, seed=0)


def test_draw_support_uses_every_other_view_before_repeating():
    rng = random.Random(0)
    for _ in range(50):
        picked, fallback = draw_support([3, 5, 8, 9], anchor=5, k=3, rng=rng)
        assert sorted(picked) == [3, 8, 9] and not fallback
        picked, fallback = draw_support([3, 5, 8], anchor=5, k=5, rng=rng)
        assert set(picked) == {3, 8} and len(picked) == 5 and not fallback
    assert draw_support([7], anchor=7, k=2, rng=rng) == ([7, 7], True)
    assert draw_support([7, 8], anchor=7, k=0, rng=rng) == ([], False)


def test_supports_exclude_anchor_and_share_identity(root):
    ds = _wrapped(root)
    plain = CUHKPEDES(data_root=root, split='train', modality='pair', pipeline=[])
    info = [plain.get_data_info(i) for i in range(len(plain))]
    pid_of_img = {d['image_id']: d['pid'] for d in info}
    pid_of_cap = {d['caption_id']: d['pid'] for d in info}
    single_img, single_cap = ds.single_view_ids()
    pid_of_raw = {d['raw_id']: d['pid'] for d in info}
    assert sorted(single_img) == [pid_of_raw[2], pid_of_raw[4]]
    assert single_cap == [pid_of_raw[2]]
    for _ in range(5):
        for idx in range(len(ds)):
            item = ds[idx]
            s = item['data_samples']
            anchor = info[idx]
            assert s.pid == anchor['pid'] and len(s.support_image_ids) == 2
            assert len(s.support_caption_ids) == 3
            assert all(pid_of_img[i] == anchor['pid'] for i in s.support_image_ids)
            assert all(pid_of_cap[c] == anchor['pid'] for c in s.support_caption_ids)
            if s.support_img_fallback:
                assert anchor['pid'] in single_img
                assert s.support_image_ids == [anchor['image_id']] * 2
            else:
                assert anchor['image_id'] not in s.support_image_ids
            if s.support_text_fallback:
                assert anchor['pid'] in single_cap
            else:
                assert anchor['caption_id'] not in s.support_caption_ids
            assert item['inputs']['support_img'].shape == (2, 3, 16, 8)
            assert item['inputs']['support_img'].dtype == torch.uint8
            assert item['inputs']['support_text'].shape == (3, 16)


def test_single_view_identity_reuses_anchor_with_new_augmentation(root):
    ds = _wrapped(root, k_img=1, k_txt=1)
    idx = next(i for i in range(len(ds)) if ds.get_data_info(i)['raw_id'] == 2)
    random.seed(1)
    crops = []
    for _ in range(6):
        item = ds[idx]
        assert item['data_samples'].support_img_fallback
        assert item['data_samples'].support_text_fallback
        assert torch.equal(item['inputs']['support_text'][0], item['inputs']['text'])
        crops.append(item['inputs']['support_img'][0])
    # Loaded again through the random pipeline: not always the same crop.
    assert any(not torch.equal(crops[0], c) for c in crops[1:])


def test_zero_support_and_preprocessor_batching(root):
    ds = _wrapped(root, k_img=0, k_txt=2)
    item = ds[0]
    assert 'support_img' not in item['inputs'] and item['data_samples'].support_image_ids == []
    ds = _wrapped(root)
    batch = pseudo_collate([ds[i] for i in range(5)])
    out = SupportSetDataPreprocessor()(batch)
    assert out['inputs']['support_img'].shape == (5, 2, 3, 16, 8)
    assert out['inputs']['support_text'].shape == (5, 3, 16)
    ref = (
        batch['inputs']['support_img'][3].float()
        - out['inputs']['support_img']
        .new_tensor([122.7709383, 116.7460125, 104.09373615])
        .view(3, 1, 1)
    ) / out['inputs']['support_img'].new_tensor([68.5005327, 66.6321579, 70.32316305]).view(3, 1, 1)
    torch.testing.assert_close(out['inputs']['support_img'][3], ref)


def test_rejects_unlabelled_or_non_pair_datasets(root):
    with pytest.raises(ValueError, match='identity labels'):
        _wrapped(root, identity='drop')
    with pytest.raises(KeyError, match="modality='pair'"):
        SupportSetDataset(
            {
                'type': 'CUHKPEDES',
                'data_root': root,
                'split': 'train',
                'modality': 'image',
                'pipeline': PIPELINE,
            }
        )
    with pytest.raises(ValueError, match='>= 0'):
        _wrapped(root, k_img=-1)
