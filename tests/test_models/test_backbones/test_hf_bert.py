# Copyright (c) tpr_mm contributors. All rights reserved.
"""HFBertBackbone on a tiny random BERT (nothing downloaded)."""

import pytest
import torch

pytest.importorskip('transformers')

from tpr_mm.models.backbones import HFBertBackbone  # noqa: E402
from tpr_mm.registry import MODELS  # noqa: E402

TINY_BERT = dict(
    vocab_size=60,
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=32,
    max_position_embeddings=24,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)


def _ids(lengths, total=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros(len(lengths), total, dtype=torch.long)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(5, 60, (n,), generator=g)
        ids[i, 0], ids[i, n - 1] = 2, 3  # [CLS] ... [SEP]
    return ids


def test_outputs_shapes_and_masks():
    torch.manual_seed(0)
    bert = MODELS.build(dict(type='HFBertBackbone', config=TINY_BERT)).eval()
    assert bert.text_width == 16 and bert.context_length == 24
    ids = _ids([11, 5, 3])
    out = bert.encode_text(ids, return_tokens=True, return_attention=True)
    assert out['global'].shape == (3, 16)
    assert out['tokens'].shape == (3, 11, 16) and out['tokens'] is out['tokens_unprojected']
    assert torch.equal(out['global'], out['tokens'][:, 0])
    assert torch.equal(out['mask'], ids != 0)
    assert torch.equal(out['global_index'], torch.zeros(3, dtype=torch.long))
    att = out['attention']
    assert att.shape == (3, 11, 11)
    assert torch.allclose(att.sum(-1), torch.ones(3, 11), atol=1e-5)
    assert att[1, 0, 5:].abs().max() < 1e-6  # no attention to padding
    assert torch.equal(bert(ids), out['global'])


def test_padding_does_not_change_real_tokens():
    torch.manual_seed(0)
    bert = HFBertBackbone(config=TINY_BERT).eval()
    ids = _ids([6], total=6)
    padded = torch.cat([ids, torch.zeros(1, 7, dtype=torch.long)], dim=1)
    a = bert.encode_text(ids, return_tokens=True)['tokens']
    b = bert.encode_text(padded, return_tokens=True)['tokens'][:, :6]
    assert torch.allclose(a, b, atol=1e-5)


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match='exactly one'):
        HFBertBackbone()
    with pytest.raises(ValueError, match='exactly one'):
        HFBertBackbone(pretrained=str(tmp_path), config=TINY_BERT)
    with pytest.raises(FileNotFoundError):
        HFBertBackbone(pretrained=str(tmp_path / 'missing'))
    bert = HFBertBackbone(config=TINY_BERT)
    with pytest.raises(ValueError, match='max_position_embeddings'):
        bert.encode_text(torch.ones(1, 30, dtype=torch.long))
    with pytest.raises(ValueError, match='integer'):
        bert.encode_text(torch.ones(1, 5))


def test_loads_a_local_checkpoint_directory(tmp_path):
    import transformers

    torch.manual_seed(1)
    cfg = transformers.BertConfig(**TINY_BERT)
    transformers.BertModel(cfg, add_pooling_layer=False).save_pretrained(tmp_path)
    ref = transformers.BertModel.from_pretrained(tmp_path, add_pooling_layer=False).eval()
    bert = HFBertBackbone(pretrained=str(tmp_path)).eval()
    ids = _ids([7, 4])
    want = ref(input_ids=ids, attention_mask=(ids != 0).long()).last_hidden_state[:, 0]
    assert torch.allclose(bert(ids), want, atol=1e-5)


def test_pretrained_weights_survive_init_weights(tmp_path):
    """MMEngine's runner calls init_weights() after building: BERT must keep its checkpoint."""
    import transformers

    torch.manual_seed(2)
    saved = transformers.BertModel(transformers.BertConfig(**TINY_BERT), add_pooling_layer=False)
    saved.save_pretrained(tmp_path)
    bert = MODELS.build(dict(type='HFBertBackbone', pretrained=str(tmp_path)))
    bert.init_weights()
    got = {k.removeprefix('bert.'): v for k, v in bert.state_dict().items()}
    for key, value in saved.state_dict().items():
        assert torch.equal(got[key], value), key
