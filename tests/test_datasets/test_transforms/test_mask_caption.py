# Copyright (c) tpr_mm contributors. All rights reserved.
"""IRRA's caption masking: equal to the public rule under the same seeded generator."""

import random

import numpy as np
import pytest
import torch
from mmengine.runner import Runner
from torch.utils.data import Dataset

from tpr_mm.datasets.transforms import tokenize_caption
from tpr_mm.registry import MODELS, TRANSFORMS


def irra_reference_masking(tokens):
    """Plain re-statement of ``_build_random_masked_tokens_and_labels``
    (anosorae/IRRA:datasets/bases.py): vocabulary of 49408, mask id 49405."""
    tokens = list(tokens)
    mask = 49405
    token_range = list(range(1, 49408 - 3))
    labels = []
    for i, token in enumerate(list(tokens)):
        if 0 < token < 49405:
            prob = random.random()
            if prob < 0.15:
                prob /= 0.15
                if prob < 0.8:
                    tokens[i] = mask
                elif prob < 0.9:
                    tokens[i] = random.choice(token_range)
                labels.append(token)
            else:
                labels.append(0)
        else:
            labels.append(0)
    if all(lab == 0 for lab in labels):
        labels[1] = tokens[1]
        tokens[1] = mask
    return tokens, labels


def _captions():
    rows = [
        tokenize_caption(c, 77)[0] for c in ('a man', 'A woman in a red coat! She carries a bag.')
    ]
    long = tokenize_caption(' '.join(['person wearing black shoes'] * 30), 77)[0]
    rnd = np.random.default_rng(0).integers(1, 49408, size=77)  # every id range, incl. 49405+
    rnd[0], rnd[40], rnd[41:] = 49406, 49407, 0
    return rows + [long, rnd]


@pytest.mark.parametrize('seed', range(40))
def test_equals_reference_under_same_seed(seed):
    for tokens in _captions():
        random.seed(seed)
        ref_tokens, ref_labels = irra_reference_masking(tokens)
        random.seed(seed)
        out = TRANSFORMS.build(dict(type='MaskCaptionTokens'))(dict(text=tokens.copy()))
        assert out['mlm_text'].tolist() == ref_tokens
        assert out['mlm_labels'].tolist() == ref_labels


def test_same_number_of_draws_as_reference():
    tokens = _captions()[3]
    for seed in range(20):
        random.seed(seed)
        irra_reference_masking(tokens)
        after_ref = random.random()
        random.seed(seed)
        TRANSFORMS.build(dict(type='MaskCaptionTokens'))(dict(text=tokens.copy()))
        assert random.random() == after_ref


def test_forced_first_word_and_ineligible_ids():
    tokens = tokenize_caption('a man', 77)[0]  # SOT, 'a', 'man', EOT
    forced = 0
    for seed in range(300):
        random.seed(seed)
        out = TRANSFORMS.build(dict(type='MaskCaptionTokens'))(dict(text=tokens.copy()))
        labels, masked = out['mlm_labels'], out['mlm_text']
        assert labels[0] == 0 and labels[3:].sum() == 0  # SOT, EOT, padding never targets
        assert masked[0] == 49406 and masked[3] == 49407 and not masked[4:].any()
        assert labels.any()
        if masked[1] == 49405 and masked[2] == tokens[2] and labels[2] == 0:
            forced += 1
    assert forced > 100  # P(no word selected) = 0.85² ≈ 0.72


def test_rates_match_the_rule():
    tokens = np.zeros(77, dtype=np.int64)
    tokens[0], tokens[1:76], tokens[76] = 49406, np.arange(100, 175), 49407
    random.seed(0)
    selected = masked = replaced = 0
    for _ in range(400):
        out = TRANSFORMS.build(dict(type='MaskCaptionTokens'))(dict(text=tokens.copy()))
        sel = out['mlm_labels'] != 0
        selected += sel.sum()
        masked += (out['mlm_text'][sel] == 49405).sum()
        replaced += ((out['mlm_text'] != tokens) & (out['mlm_text'] != 49405)).sum()
    assert selected / (400 * 75) == pytest.approx(0.15, abs=0.01)
    assert masked / selected == pytest.approx(0.8, abs=0.02)
    assert replaced / selected == pytest.approx(0.1, abs=0.02)


def test_replace_text_switch_and_passthrough():
    tokens = _captions()[1]
    random.seed(3)
    out = TRANSFORMS.build(dict(type='MaskCaptionTokens'))(dict(text=tokens.copy()))
    assert np.array_equal(out['text'], out['mlm_text'])  # published: SDM/ID see it too
    assert out['text'] is not out['mlm_text']
    random.seed(3)
    clean = TRANSFORMS.build(dict(type='MaskCaptionTokens', replace_text=False))
    src = tokens.copy()
    out2 = clean(dict(text=src))
    assert np.array_equal(out2['text'], tokens) and np.array_equal(src, tokens)
    assert np.array_equal(out2['mlm_text'], out['mlm_text'])
    img_only = dict(img=np.zeros((4, 4, 3), np.uint8))
    assert 'mlm_text' not in clean(img_only)
    with pytest.raises(ValueError, match='field "text"'):
        clean(dict(text=np.array([49406]), sample_idx=7))
    with pytest.raises(ValueError, match='random_prob'):
        TRANSFORMS.build(dict(type='MaskCaptionTokens', mask_prob=0.9, random_prob=0.2))


def test_packed_and_batched_as_model_inputs():
    random.seed(0)
    pipeline = [
        TRANSFORMS.build(dict(type='MaskCaptionTokens')),
        TRANSFORMS.build(dict(type='PackTextReIDInputs')),
    ]
    items = []
    for tokens in _captions()[:2]:
        r = dict(text=tokens.copy(), pid=0, sample_idx=0)
        for t in pipeline:
            r = t(r)
        items.append(r)
    assert items[0]['inputs']['mlm_labels'].dtype == torch.long
    pre = MODELS.build(dict(type='TextReIDDataPreprocessor'))
    batch = pre(
        dict(
            inputs={k: [it['inputs'][k] for it in items] for k in items[0]['inputs']},
            data_samples=[it['data_samples'] for it in items],
        )
    )
    assert batch['inputs']['mlm_text'].shape == (2, 77)
    assert batch['inputs']['mlm_labels'].dtype == torch.long


class _Captions(Dataset):
    def __init__(self):
        self.rows = _captions() * 4
        self.mask = TRANSFORMS.build(dict(type='MaskCaptionTokens'))

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return torch.as_tensor(self.mask(dict(text=self.rows[i].copy()))['mlm_labels'])


def _labels(seed):
    loader = Runner.build_dataloader(
        dict(
            dataset=_Captions(),
            batch_size=4,
            num_workers=2,
            persistent_workers=True,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
        ),
        seed=seed,
    )
    return torch.cat(list(loader))


def test_deterministic_under_seeded_loader():
    """Workers seeded by MMEngine's worker_init_fn give the same masks for the same seed."""
    a, b, c = _labels(0), _labels(0), _labels(1)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
