# Copyright (c) tpr_mm contributors. All rights reserved.
"""BertTokenizeCaption with a tiny WordPiece vocabulary written in tmp_path."""

import pytest

pytest.importorskip('transformers')

from tpr_mm.registry import TRANSFORMS  # noqa: E402

VOCAB = [
    '[PAD]',
    '[UNK]',
    '[CLS]',
    '[SEP]',
    '[MASK]',
    'a',
    'man',
    'in',
    'red',
    'shirt',
    'wears',
    'black',
    'shoes',
    '##s',
    'woman',
    '.',
    ',',
]


@pytest.fixture
def vocab(tmp_path):
    path = tmp_path / 'vocab.txt'
    path.write_text('\n'.join(VOCAB) + '\n')
    return path


def _id(tok):
    return VOCAB.index(tok)


def test_tokenises_pads_and_lowercases(vocab):
    t = TRANSFORMS.build(dict(type='BertTokenizeCaption', vocab=str(vocab), context_length=9))
    out = t({'caption': 'A Man in red shirts.'})['text']
    want = [_id(w) for w in ['[CLS]', 'a', 'man', 'in', 'red', 'shirt', '##s', '.', '[SEP]']]
    assert out.tolist() == want and out.dtype.name == 'int64'
    out = t({'caption': 'woman wears zebra'})['text']
    assert out.tolist() == [2, _id('woman'), _id('wears'), 1, 3, 0, 0, 0, 0]


def test_truncation_keeps_sep_and_directory_argument(vocab):
    t = TRANSFORMS.build(
        dict(type='BertTokenizeCaption', vocab=str(vocab.parent), context_length=5)
    )
    out = t({'caption': 'a man in red shirt wears black shoes'})['text']
    assert out.tolist() == [2, _id('a'), _id('man'), _id('in'), 3]


def test_image_items_pass_and_bad_inputs(vocab, tmp_path):
    t = TRANSFORMS.build(dict(type='BertTokenizeCaption', vocab=str(vocab)))
    item = {'img_path': 'x.jpg'}
    assert t(dict(item)) == item
    with pytest.raises(ValueError, match='x.jpg'):
        t({'caption': '  ', 'img_path': 'x.jpg'})
    with pytest.raises(FileNotFoundError):
        TRANSFORMS.build(dict(type='BertTokenizeCaption', vocab=str(tmp_path / 'nope.txt')))
