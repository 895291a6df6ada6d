# Copyright (c) tpr_mm contributors. All rights reserved.
"""Token-level caption augmentation: random mask / replace / delete (RDE's ``--txt_aug``)."""

import random

import numpy as np
from mmcv.transforms import BaseTransform

from tpr_mm.registry import TRANSFORMS

# IRRA/RDE's vocabulary puts <|mask|> at 49405 (they drop CLIP's last merge);
# with OpenAI CLIP weights that id's embedding row is simply reused as the mask.
CLIP_MASK_TOKEN_ID = 49405


@TRANSFORMS.register_module()
class CaptionTokenAugment(BaseTransform):
    """Randomly mask, replace or delete caption tokens.

    Re-states ``ImageTextDataset.txt_data_aug`` of
    ``QinYang79/RDE:2024-CVPR-RDE/datasets/bases.py``: every eligible token
    (``0 < id < mask_token_id``: not padding, not SOT/EOT, not the mask) is
    touched with probability ``prob``; a touched token becomes the mask id
    (share ``mask_ratio``), a uniformly random eligible id (share
    ``replace_ratio``) or is deleted (the rest): later tokens shift left and
    the tail is zero-filled. RDE's values: ``prob=0.2``, 60 % / 20 % / 20 %
    (its comments say otherwise; the code is followed). Draws use Python's
    ``random`` in RDE's order (``random.random()`` per eligible token, then
    ``random.choice`` for a replacement), so a seeded run matches RDE's.

    Id 0 is padding here as in RDE (CLIP's "!" shares it and is never touched).
    Items without ``text`` pass through.

    Required keys: ``text`` (np.ndarray (T,) int). Modified keys: ``text``.

    Args:
        prob (float): Chance that an eligible token is touched. Defaults to 0.2.
        mask_ratio (float): Share of touched tokens masked. Defaults to 0.6.
        replace_ratio (float): Share replaced by a random id. Defaults to 0.2.
        mask_token_id (int): Mask id; also the exclusive upper bound of
            eligible and random ids. Defaults to 49405.
    """

    def __init__(
        self,
        prob: float = 0.2,
        mask_ratio: float = 0.6,
        replace_ratio: float = 0.2,
        mask_token_id: int = CLIP_MASK_TOKEN_ID,
    ) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        if mask_ratio < 0 or replace_ratio < 0 or mask_ratio + replace_ratio > 1.0:
            raise ValueError(
                'mask_ratio and replace_ratio must be >= 0 with a sum <= 1, got '
                f'{mask_ratio} and {replace_ratio}'
            )
        if mask_token_id < 2:
            raise ValueError(f'mask_token_id must be >= 2, got {mask_token_id}')
        self.prob = prob
        self.mask_ratio = mask_ratio
        self.replace_ratio = replace_ratio
        self.mask_token_id = mask_token_id
        self._random_ids = range(1, mask_token_id)

    def augment(self, tokens: np.ndarray) -> np.ndarray:
        """(T,) ids -> (T,) augmented ids (same dtype)."""
        if tokens.ndim != 1:
            raise ValueError(f'text must be a 1-D array of token ids, got shape {tokens.shape}')
        kept = []
        for token in tokens.tolist():
            if not 0 < token < self.mask_token_id:
                kept.append(token)
                continue
            draw = random.random()
            if draw >= self.prob:
                kept.append(token)
                continue
            draw /= self.prob
            if draw < self.mask_ratio:
                kept.append(self.mask_token_id)
            elif draw < self.mask_ratio + self.replace_ratio:
                kept.append(random.choice(self._random_ids))
            # else: deleted
        out = np.zeros_like(tokens)
        out[: len(kept)] = kept
        return out

    def transform(self, results: dict) -> dict:
        text = results.get('text')
        if text is None:
            return results
        results['text'] = self.augment(np.asarray(text))
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(prob={self.prob}, mask_ratio={self.mask_ratio}, '
            f'replace_ratio={self.replace_ratio}, mask_token_id={self.mask_token_id})'
        )
