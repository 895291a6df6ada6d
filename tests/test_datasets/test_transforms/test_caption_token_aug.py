# Copyright (c) tpr_mm contributors. All rights reserved.
"""CaptionTokenAugment against QinYang79/RDE datasets/bases.py txt_data_aug, same random draws."""

import random

import numpy as np
import pytest

from tpr_mm.datasets.transforms import CaptionTokenAugment
from tpr_mm.registry import TRANSFORMS


def _rde_txt_data_aug(tokens):
    """RDE's loop as published (mask id 49405, vocabulary 49408)."""
    mask = 49405
    token_range = list(range(1, 49408 - 3))
    new_tokens = np.zeros_like(tokens)
    aug_tokens = []
    for i, token in enumerate(tokens):
        if 0 < token < 49405:
            prob = random.random()
            if prob < 0.20:
                prob /= 0.20
                if prob < 0.6:
                    aug_tokens.append(mask)
                elif prob < 0.8:
                    aug_tokens.append(random.choice(token_range))
                else:
                    pass  # deleted
            else:
                aug_tokens.append(tokens[i])
        else:
            aug_tokens.append(tokens[i])
    new_tokens[0 : len(aug_tokens)] = np.array(aug_tokens)
    return new_tokens


def _caption(rng, n, t=40):
    ids = np.zeros(t, dtype=np.int64)
    ids[0], ids[1 : n + 1], ids[n + 1] = 49406, rng.integers(1, 49405, n), 49407
    return ids


def test_matches_rde_under_the_same_seed():
    aug = TRANSFORMS.build(dict(type='CaptionTokenAugment'))
    assert isinstance(aug, CaptionTokenAugment)
    rng = np.random.default_rng(0)
    changed = deleted = 0
    for trial in range(200):
        ids = _caption(rng, int(rng.integers(1, 38)))
        random.seed(trial)
        want = _rde_txt_data_aug(ids)
        random.seed(trial)
        got = aug(dict(text=ids.copy()))['text']
        assert got.dtype == ids.dtype and np.array_equal(got, want)
        changed += int(not np.array_equal(got, ids))
        deleted += int((got != 0).sum() < (ids != 0).sum())
    assert changed > 100 and deleted > 20  # every branch is exercised


def test_special_tokens_and_padding_are_never_touched():
    aug = CaptionTokenAugment(prob=1.0, mask_ratio=1.0, replace_ratio=0.0)
    ids = np.array([49406, 5, 6, 49405, 7, 49407, 0, 0])
    assert aug(dict(text=ids))['text'].tolist() == [49406, 49405, 49405, 49405, 49405, 49407, 0, 0]
    delete = CaptionTokenAugment(prob=1.0, mask_ratio=0.0, replace_ratio=0.0)
    assert delete(dict(text=ids))['text'].tolist() == [49406, 49405, 49407, 0, 0, 0, 0, 0]
    assert delete(dict(img_path='x')) == dict(img_path='x')  # gallery items pass through


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match='sum'):
        CaptionTokenAugment(mask_ratio=0.7, replace_ratio=0.5)
    with pytest.raises(ValueError, match='prob'):
        CaptionTokenAugment(prob=1.5)
    with pytest.raises(ValueError, match='1-D'):
        CaptionTokenAugment().augment(np.zeros((2, 3), dtype=np.int64))
