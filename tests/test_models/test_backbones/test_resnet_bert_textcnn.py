# Copyright (c) tpr_mm contributors. All rights reserved.
"""Published LCR²S towers: stripe pooling, TIPCB's text CNN, frozen BERT, token layout."""

import pytest
import torch
import torch.nn.functional as F

from tpr_mm.models.backbones import PartPoolingResNet, ResidualTextCNN
from tpr_mm.registry import MODELS

pytest.importorskip('transformers')

TINY_RESNET = dict(
    type='mmpretrain.ResNet',
    depth=18,
    stem_channels=8,
    base_channels=8,
    strides=(1, 2, 2, 1),
    out_indices=(3,),
)
TINY_BERT = dict(
    vocab_size=40,
    hidden_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=40,
)


def _cnn(**kw):
    args = dict(in_channels=32, stem_channels=24, out_channels=64, width=16, num_branches=6)
    args.update(kw)
    return dict(type='ResidualTextCNN', **args)


def _backbone(**kw):
    return dict(
        type='ResNetBertTextCNN',
        image_encoder=dict(type='PartPoolingResNet', resnet=TINY_RESNET, num_parts=6),
        bert=dict(type='HFBertBackbone', config=TINY_BERT),
        text_cnn=_cnn(),
        **kw,
    )


def _text(b=4, length=20):
    text = torch.randint(5, 40, (b, length))
    for i in range(b):
        text[i, 0], text[i, 6 + 2 * i], text[i, 7 + 2 * i :] = 2, 3, 0
    return text


def test_stripes_equal_tipcb_slicing_at_384x128():
    torch.manual_seed(0)
    enc = PartPoolingResNet(TINY_RESNET, num_parts=6).eval()
    with torch.no_grad():
        out = enc(torch.randn(2, 3, 384, 128))
    fmap = out['feature_map']
    assert fmap.shape == (2, 64, 24, 8)  # 384x128 / 16 with the last stride 1
    # TIPCB: rows 0:4, 4:8, ..., 20: max-pooled; global = max over the whole map.
    bands = [fmap[:, :, 4 * i : 4 * i + 4 if i < 5 else None] for i in range(6)]
    ref = torch.stack([b.amax(dim=(2, 3)) for b in bands], dim=1)
    assert out['parts'].shape == (2, 6, 64)
    torch.testing.assert_close(out['parts'], ref)
    torch.testing.assert_close(out['global'], fmap.amax(dim=(2, 3)))
    avg = PartPoolingResNet(TINY_RESNET, num_parts=3, pool='avg').eval()
    with torch.no_grad():
        out = avg(torch.randn(1, 3, 96, 32))
    torch.testing.assert_close(out['global'], out['feature_map'].mean(dim=(2, 3)))
    assert out['parts'].shape == (1, 3, 64)
    with pytest.raises(ValueError, match='fewer than num_parts=6'):
        enc(torch.randn(1, 3, 64, 32))
    with pytest.raises(ValueError, match='out_indices must end with 3'):
        PartPoolingResNet(dict(TINY_RESNET, out_indices=(2,)))


def _naive_tipcb_text(cnn, words):
    """TIPCB's 2-D formulation (height-1 maps, (1, 3) kernels), in eval mode."""

    def conv(m, x):
        return F.conv2d(x, m.weight.unsqueeze(2), padding=(0, m.padding[0]))

    def bn(m, x):
        return F.batch_norm(x, m.running_mean, m.running_var, m.weight, m.bias, False, 0.0, m.eps)

    x = words.permute(0, 2, 1).unsqueeze(2)  # (B, C, 1, L)
    x = F.relu(bn(cnn.stem[1], conv(cnn.stem[0], x)))
    pooled = []
    for branch in cnn.branches:
        y = x
        for blk in branch:
            short = (
                y if blk.downsample is None else bn(blk.downsample[1], conv(blk.downsample[0], y))
            )
            o = F.relu(bn(blk.bn1, conv(blk.conv1, y)))
            o = F.relu(bn(blk.bn2, conv(blk.conv2, o)))
            y = F.relu(bn(blk.bn3, conv(blk.conv3, o)) + short)
        pooled.append(F.adaptive_max_pool2d(y, 1))  # (B, C, 1, 1)
    glob = F.adaptive_max_pool2d(torch.cat(pooled, dim=2), 1).flatten(1)
    return glob, torch.stack([p.flatten(1) for p in pooled], dim=1)


def test_text_cnn_equals_tipcb_2d_formulation():
    torch.manual_seed(0)
    cnn = MODELS.build(_cnn())
    for m in cnn.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    cnn.eval()
    words = torch.randn(3, 11, 32)
    with torch.no_grad():
        out = cnn(words)
        glob, parts = _naive_tipcb_text(cnn, words)
    torch.testing.assert_close(out['parts'], parts, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out['global'], glob, rtol=1e-4, atol=1e-5)
    assert out['stem'].shape == (3, 24)


def _count(in_c, stem, out, width, branches, blocks, shared, k=3):
    def block(i):
        return i * width + width * width * k + width * out + 2 * (2 * width + out)

    proj = stem * out + 2 * out
    branch = block(stem) + (blocks - 1) * block(out)
    return in_c * stem + 2 * stem + branches * branch + (1 if shared else branches) * proj


def test_text_cnn_shared_shortcut_and_parameter_count():
    shared = ResidualTextCNN(32, 24, 64, 16, num_branches=6, num_blocks=3)
    assert all(b[0].downsample is shared.branches[0][0].downsample for b in shared.branches)
    n = sum(p.numel() for p in shared.parameters())
    assert n == _count(32, 24, 64, 16, 6, 3, shared=True)
    own = ResidualTextCNN(32, 24, 64, 16, num_branches=6, num_blocks=3, share_downsample=False)
    assert sum(p.numel() for p in own.parameters()) == _count(32, 24, 64, 16, 6, 3, shared=False)
    # Real size (BERT-base words -> 2048): 51.76 M parameters with TIPCB's shared shortcut.
    assert _count(768, 1024, 2048, 512, 6, 3, shared=True) == 51_759_104


def test_text_cnn_padding_mask():
    torch.manual_seed(0)
    cnn = ResidualTextCNN(32, 24, 64, 16, num_branches=2, mask_padding=True).eval()
    words = torch.randn(2, 9, 32)
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[0, 5:] = False
    with torch.no_grad():
        out = cnn(words, mask)
        x = cnn.stem(words.transpose(1, 2))
        maps = [branch(x) for branch in cnn.branches]
    ref = torch.stack([m[0, :, :5].amax(-1) for m in maps])
    torch.testing.assert_close(out['parts'][0], ref)
    torch.testing.assert_close(out['parts'][1], torch.stack([m[1].amax(-1) for m in maps]))
    with pytest.raises(ValueError, match='at least one real token'):
        cnn(words, torch.zeros(2, 9, dtype=torch.bool))


def test_two_towers_frozen_bert_and_token_layout():
    torch.manual_seed(0)
    model = MODELS.build(_backbone())
    assert model.embed_dim == 64
    assert not any(p.requires_grad for p in model.bert.parameters())
    model.train()
    assert not model.bert.training and model.text_cnn.training
    text, img = _text(), torch.randn(4, 3, 96, 32)
    out = model.encode_text(text, return_tokens=True)
    assert out['tokens'].shape == (4, 7, 64) and out['mask'].all()
    assert torch.equal(out['tokens'][:, 0], out['global'])
    assert torch.equal(out['tokens'][:, 1:], out['parts'])
    assert out['global_index'].tolist() == [0] * 4
    torch.testing.assert_close(out['global'], out['parts'].amax(dim=1))
    vis = model.encode_image(img, return_tokens=True)
    assert vis['tokens'].shape == (4, 7, 64) and 'mask' in vis
    (out['global'].sum() + vis['global'].sum()).backward()
    assert all(p.grad is None for p in model.bert.parameters())
    assert model.text_cnn.stem[0].weight.grad.abs().sum() > 0
    assert model.image_encoder.resnet.conv1.weight.grad.abs().sum() > 0
    # BERT in eval mode: word features do not depend on dropout in training.
    torch.testing.assert_close(
        model.encode_words(text)['tokens'], model.encode_words(text)['tokens']
    )
    tuned = MODELS.build(_backbone(freeze_bert=False))
    assert all(p.requires_grad for p in tuned.bert.parameters())


def test_frozen_bert_dropout_follows_the_mode_like_tipcb():
    """TIPCB's train.py calls network.train() each epoch: its frozen BERT trains with dropout."""
    torch.manual_seed(0)
    model = MODELS.build(_backbone(frozen_bert_dropout=True))
    model.train()
    assert model.bert.training and not any(p.requires_grad for p in model.bert.parameters())
    text = _text()
    with torch.no_grad():
        a, b = model.encode_words(text)['tokens'], model.encode_words(text)['tokens']
    assert not torch.equal(a, b)  # dropout draws differ
    model.eval()
    assert not model.bert.training
    torch.testing.assert_close(
        model.encode_words(text)['tokens'], model.encode_words(text)['tokens']
    )


def test_pretrained_bert_survives_the_two_towers_init_weights(tmp_path):
    """MMEngine's runner calls init_weights() after building: BERT keeps its checkpoint."""
    import transformers

    torch.manual_seed(2)
    saved = transformers.BertModel(transformers.BertConfig(**TINY_BERT), add_pooling_layer=False)
    saved.save_pretrained(tmp_path)
    model = MODELS.build(
        dict(_backbone(), bert=dict(type='HFBertBackbone', pretrained=str(tmp_path)))
    )
    model.init_weights()
    got = {k.removeprefix('bert.'): v for k, v in model.bert.state_dict().items()}
    for key, value in saved.state_dict().items():
        assert torch.equal(got[key], value), key


def test_two_towers_reject_mismatched_widths():
    with pytest.raises(ValueError, match='text_cnn.in_channels=48 but BERT gives 32-d'):
        MODELS.build(dict(_backbone(), text_cnn=_cnn(in_channels=48)))
    with pytest.raises(ValueError, match='image features are 64-d but text features 128-d'):
        MODELS.build(dict(_backbone(), text_cnn=_cnn(out_channels=128)))
