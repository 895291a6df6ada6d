# Copyright (c) tpr_mm contributors. All rights reserved.
"""CLIP byte-pair tokenisation of captions.

Source: anosorae/IRRA:datasets/bases.py (``tokenize``) and anosorae/IRRA:utils/simple_tokenizer.py.
"""

from functools import cache

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from tpr_mm.registry import TRANSFORMS


@cache
def _simple_tokenizer():
    # Loading the BPE merges takes ~0.3 s; share one tokenizer per process.
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer()


def tokenize_caption(caption: str, context_length: int = 77) -> tuple:
    """Tokenise one caption with OpenAI CLIP's BPE.

    Sequence = [SOT] + BPE ids + [EOT], zero-padded to ``context_length``.
    A longer sequence keeps its first ``context_length`` ids and the last one
    is overwritten with EOT (the field's truncate-then-EOT rule), so the text
    tower can always pool at ``argmax(ids)``.

    Args:
        caption (str): Raw caption.
        context_length (int): Output length. Defaults to 77.

    Returns:
        tuple[np.ndarray, bool]: ids of shape (context_length,) int64, and
        whether the caption was truncated.

    Raises:
        ValueError: the caption is empty or whitespace only.
    """
    if not isinstance(caption, str) or not caption.strip():
        raise ValueError(f'empty or whitespace-only caption: {caption!r}')
    tok = _simple_tokenizer()
    sot, eot = tok.sot_token_id, tok.eot_token_id
    ids = [sot] + tok.encode(caption) + [eot]
    truncated = len(ids) > context_length
    if truncated:
        ids = ids[:context_length]
        ids[-1] = eot
    out = np.zeros(context_length, dtype=np.int64)
    out[: len(ids)] = ids
    return out, truncated


@TRANSFORMS.register_module()
class TokenizeCaption(BaseTransform):
    """Tokenise ``caption`` into ``text`` (CLIP BPE, fixed length).

    Items without ``caption`` (gallery images) pass through untouched.

    Required keys: ``caption`` (optional). Added keys: ``text``
    (np.ndarray, (context_length,) int64).

    Truncations are counted per transform instance (one per dataset
    pipeline); the first one is logged with the caption, later ones at
    powers of ten, so a long-caption dataset is visible without log spam.

    Args:
        context_length (int): Token sequence length. Defaults to 77.
    """

    def __init__(self, context_length: int = 77) -> None:
        if context_length < 2:
            raise ValueError('context_length must be >= 2 (SOT and EOT)')
        self.context_length = context_length
        self.num_truncated = 0

    def transform(self, results: dict) -> dict:
        caption = results.get('caption')
        if caption is None:
            return results
        try:
            ids, truncated = tokenize_caption(caption, self.context_length)
        except ValueError as exc:
            where = results.get('img_path') or results.get('sample_idx')
            raise ValueError(f'{exc} (item {where})') from None
        if truncated:
            self.num_truncated += 1
            n = self.num_truncated
            if str(n).strip('0') == '1':  # 1, 10, 100, ...
                print_log(
                    f'{n} caption(s) longer than {self.context_length} tokens truncated so far '
                    f'(latest: {caption[:80]!r}...)',
                    logger='current',
                    level=30,
                )
        results['text'] = ids
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(context_length={self.context_length})'
