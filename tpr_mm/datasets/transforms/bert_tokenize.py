# Copyright (c) tpr_mm contributors. All rights reserved.
"""WordPiece (BERT) tokenisation of captions.

Built on the ``tokenizers`` library that ships with transformers (``pip install
-e .[bert]``): the same normaliser, pre-tokeniser and WordPiece model as
``BertTokenizerFast``, but independent of the transformers version (whose
tokenizer constructor arguments changed in 5.0).
"""

from pathlib import Path

import numpy as np
from mmcv.transforms import BaseTransform

from tpr_mm.registry import TRANSFORMS

__all__ = ['BertTokenizeCaption']


@TRANSFORMS.register_module()
class BertTokenizeCaption(BaseTransform):
    """Tokenise ``caption`` into ``text``: ``[CLS] wordpieces [SEP]`` + ``[PAD]``.

    A caption longer than ``context_length`` keeps its first pieces and ends
    with ``[SEP]``. Items without ``caption`` (gallery images) pass through.

    Required keys: ``caption`` (optional). Added keys: ``text``
    (np.ndarray, (context_length,) int64).

    Args:
        vocab (str): A WordPiece ``vocab.txt`` or a directory holding one
            (e.g. ``'data/pretrained/bert-base-uncased'``).
        context_length (int): Output length. Defaults to 100 (CFine).
        do_lower_case (bool): Lower-case before tokenising (uncased vocabs).
    """

    def __init__(self, vocab: str, context_length: int = 100, do_lower_case: bool = True) -> None:
        try:
            from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                'BertTokenizeCaption needs the optional dependency '
                'transformers (tokenizers): pip install -e .[bert]'
            ) from exc
        path = Path(vocab).expanduser()
        if path.is_dir():
            path = path / 'vocab.txt'
        if not path.is_file():
            raise FileNotFoundError(f'BERT vocabulary not found: {path}')
        if context_length < 2:
            raise ValueError('context_length must be >= 2 ([CLS] and [SEP])')
        self.vocab = str(path)
        self.context_length = context_length
        table = models.WordPiece.read_file(self.vocab)
        missing = [t for t in ('[PAD]', '[UNK]', '[CLS]', '[SEP]') if t not in table]
        if missing:
            raise ValueError(f'BERT vocabulary {self.vocab} lacks the special tokens {missing}')
        self.tokenizer = Tokenizer(models.WordPiece(table, unk_token='[UNK]'))
        self.tokenizer.normalizer = normalizers.BertNormalizer(lowercase=do_lower_case)
        self.tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        self.cls_id, self.sep_id = table['[CLS]'], table['[SEP]']
        self.pad_token_id = table['[PAD]']

    def transform(self, results: dict) -> dict:
        caption = results.get('caption')
        if caption is None:
            return results
        if not isinstance(caption, str) or not caption.strip():
            where = results.get('img_path') or results.get('sample_idx')
            raise ValueError(f'empty or whitespace-only caption: {caption!r} (item {where})')
        pieces = self.tokenizer.encode(caption, add_special_tokens=False).ids
        ids = [self.cls_id] + pieces[: self.context_length - 2] + [self.sep_id]
        text = np.full(self.context_length, self.pad_token_id, dtype=np.int64)
        text[: len(ids)] = ids
        results['text'] = text
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(vocab={self.vocab!r}, context_length={self.context_length})'
        )
