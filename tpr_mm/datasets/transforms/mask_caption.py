# Copyright (c) tpr_mm contributors. All rights reserved.
"""IRRA's masked-caption transform for masked language modelling (MLM)."""

import random
from typing import Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from tpr_mm.registry import TRANSFORMS

# IRRA's CLIP vocabulary: ids 1..49404 are word pieces, 49405 is <|mask|>,
# 49406/49407 are SOT/EOT, 0 is padding (and also CLIP's "!", never masked).
IRRA_MASK_TOKEN_ID = 49405


def mask_caption_tokens(
    tokens: np.ndarray,
    mask_token_id: int = IRRA_MASK_TOKEN_ID,
    select_prob: float = 0.15,
    mask_prob: float = 0.8,
    random_prob: float = 0.1,
    rng: random.Random = random,
) -> Tuple[np.ndarray, np.ndarray]:
    """BERT-style masking of one caption, the rule of IRRA's MLM dataset.

    Re-states ``_build_random_masked_tokens_and_labels`` of
    ``anosorae/IRRA:datasets/bases.py``: every eligible token (id in
    ``1..mask_token_id-1``) is selected with probability ``select_prob``; a
    selected token becomes ``mask_token_id`` (``mask_prob``), a uniformly drawn
    id in ``1..mask_token_id-1`` (``random_prob``) or stays unchanged (the rest),
    and its label is the original id. Unselected positions get label 0 (the
    loss ignores them). When nothing was selected, position 1 (the first word)
    is masked. The random calls happen in the reference's order (one
    ``rng.random()`` per eligible token, one draw of a replacement id when
    needed), so with the same seeded generator the output is identical.

    Args:
        tokens (np.ndarray): (T,) int token ids, SOT at 0, zero padding; not
            modified.
        mask_token_id (int): Id of ``<|mask|>``; eligible ids are below it.
            Defaults to 49405 (IRRA's vocabulary).
        select_prob (float): Probability of selecting an eligible token.
        mask_prob (float): Share of selected tokens replaced by the mask id.
        random_prob (float): Share of selected tokens replaced by a random id.
        rng (random.Random): Generator; defaults to the ``random`` module,
            which the data loader seeds per worker.

    Returns:
        tuple[np.ndarray, np.ndarray]: masked ids and labels, both (T,) int64.
    """
    masked = np.array(tokens, dtype=np.int64, copy=True)
    if masked.ndim != 1 or masked.shape[0] < 2:
        raise ValueError(f'tokens must be a 1-D sequence of at least 2 ids, got {masked.shape}')
    labels = np.zeros_like(masked)
    for i, token in enumerate(masked.tolist()):
        if not 0 < token < mask_token_id:
            continue
        prob = rng.random()
        if prob >= select_prob:
            continue
        prob /= select_prob
        if prob < mask_prob:
            masked[i] = mask_token_id
        elif prob < mask_prob + random_prob:
            # == random.choice(range(1, mask_token_id)): the same single draw.
            masked[i] = rng.randrange(1, mask_token_id)
        labels[i] = token
    if not labels.any():
        # As the reference: force the first word (on a caption without words
        # this overwrites EOT, the reference's behaviour too).
        labels[1] = masked[1]
        masked[1] = mask_token_id
    return masked, labels


@TRANSFORMS.register_module()
class MaskCaptionTokens(BaseTransform):
    """Add IRRA's masked caption and MLM labels to a tokenised training item.

    Put it after ``TokenizeCaption`` in the training pipeline only. Items
    without ``text`` (gallery images) pass through.

    IRRA's public code masks the caption array in place, so its SDM/ID
    losses see the masked caption as well and the clean caption never enters
    training. ``replace_text=True`` (default) reproduces that published
    behaviour: ``text`` becomes the masked caption. ``replace_text=False``
    keeps ``text`` clean and only adds the masked copy for the MLM branch.

    Required keys: ``text`` (optional). Added keys: ``mlm_text``,
    ``mlm_labels`` ((T,) int64). Modified keys: ``text`` when
    ``replace_text``.

    Args:
        select_prob (float): Selection probability. Defaults to 0.15.
        mask_prob (float): Mask share of the selected tokens. Defaults to 0.8.
        random_prob (float): Random-id share. Defaults to 0.1.
        mask_token_id (int): Defaults to 49405.
        replace_text (bool): Train the global losses on the masked caption
            (IRRA as published). Defaults to True.
    """

    def __init__(
        self,
        select_prob: float = 0.15,
        mask_prob: float = 0.8,
        random_prob: float = 0.1,
        mask_token_id: int = IRRA_MASK_TOKEN_ID,
        replace_text: bool = True,
    ) -> None:
        if not 0.0 < select_prob <= 1.0:
            raise ValueError(f'select_prob must be in (0, 1], got {select_prob}')
        if mask_prob < 0 or random_prob < 0 or mask_prob + random_prob > 1.0:
            raise ValueError(
                f'mask_prob and random_prob must be >= 0 with a sum <= 1, '
                f'got {mask_prob} and {random_prob}'
            )
        if mask_token_id < 2:
            raise ValueError(f'mask_token_id must be >= 2, got {mask_token_id}')
        self.select_prob = select_prob
        self.mask_prob = mask_prob
        self.random_prob = random_prob
        self.mask_token_id = mask_token_id
        self.replace_text = replace_text

    def transform(self, results: dict) -> dict:
        text = results.get('text')
        if text is None:
            return results
        try:
            masked, labels = mask_caption_tokens(
                text, self.mask_token_id, self.select_prob, self.mask_prob, self.random_prob
            )
        except ValueError as exc:
            where = results.get('img_path') or results.get('sample_idx')
            raise ValueError(f'{exc} (item {where}, field "text")') from None
        results['mlm_text'] = masked
        results['mlm_labels'] = labels
        if self.replace_text:
            results['text'] = masked.copy()
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(select_prob={self.select_prob}, '
            f'mask_prob={self.mask_prob}, random_prob={self.random_prob}, '
            f'mask_token_id={self.mask_token_id}, replace_text={self.replace_text})'
        )
