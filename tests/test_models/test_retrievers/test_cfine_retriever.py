# Copyright (c) tpr_mm contributors. All rights reserved.
"""CFineRetriever: towers, token conventions, training/inference paths and inference cost."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from tpr_mm.models.retrievers import CFineRetriever, TextImageRetriever
from tpr_mm.registry import MODELS
from tpr_mm.structures import TextReIDDataSample
from tpr_mm.testing.configs import tiny_model_cfg

SOT, EOT = 49406, 49407


def _clip_cfg(img_size=(32, 16), ctx=24):
    return dict(
        type='OpenCLIPBackbone',
        pretrained=None,
        img_size=img_size,
        context_length=ctx,
        model_cfg=tiny_model_cfg(img_size, ctx),
    )


def _head(dims, classes=5):
    return dict(
        type='CFineHead',
        cfr=dict(type='CFRHead'),
        fcd=dict(type='FCDHead'),
        losses=dict(
            cmpm=dict(type='CMPMLoss'),
            cmpc=dict(type='CMPCLoss', in_channels=dims, num_classes=classes),
            diversity=dict(type='DiversityLoss'),
            ranking=dict(type='HardestNegativeRankingLoss'),
        ),
    )


def _model(**kw):
    cfg = dict(
        type='CFineRetriever',
        image_backbone=_clip_cfg(),
        neck=dict(type='MGFNeck', embed_dims=32, num_heads=2, img_k_ratio=0.2),
        head=_head(32),
    )
    cfg.update(kw)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def _batch(lengths=(5, 9, 24, 12, 3, 17), ctx=24, pids=(0, 1, 1, 2, 3, 4), seed=0):
    g = torch.Generator().manual_seed(seed)
    n = len(lengths)
    text = torch.randint(1, 40000, (n, ctx), generator=g)
    for i, length in enumerate(lengths):
        text[i, 0], text[i, length - 1], text[i, length:] = SOT, EOT, 0
    samples = []
    for p in pids:
        s = TextReIDDataSample()
        s.set_field(p, 'pid', field_type='metainfo')
        samples.append(s)
    return dict(img=torch.randn(n, 3, 32, 16, generator=g), text=text), samples


def test_one_clip_serves_both_towers():
    model = _model(text_backbone=_clip_cfg())  # same config -> shared
    assert model.text_backbone is None and model.text_tower is model.image_backbone
    assert not any(k.startswith('text_backbone') for k in model.state_dict())
    assert all(
        p.requires_grad for n, p in model.image_backbone.named_parameters() if 'logit' not in n
    )


def test_loss_and_predict_modes():
    model = _model()
    inputs, samples = _batch()
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {'loss_cmpm', 'loss_cmpc', 'loss_div', 'loss_rank'}
    sum(losses.values()).backward()
    assert model.neck.block.cross_attn.in_proj_weight.grad.abs().sum() > 0
    assert model.image_backbone.clip.visual.conv1.weight.grad.abs().sum() > 0
    assert model.image_backbone.clip.token_embedding.weight.grad.abs().sum() > 0
    model.eval()
    out = model(inputs, samples, mode='predict')
    assert out[0].img_feat.shape == (96,) and out[0].text_feat.shape == (96,)
    assert torch.allclose(out[2].img_feat.norm(), torch.tensor(1.0))
    feats = model(inputs, mode='tensor')
    assert torch.allclose(feats['text_feats'][3], out[3].text_feat)
    with pytest.raises(RuntimeError, match='without a head'):
        _model(head=None)(inputs, samples, mode='loss')


def _capture_neck_calls(model):
    calls = []
    model.neck.register_forward_pre_hook(lambda m, args: calls.append(args))
    return calls


def test_clip_text_candidates_exclude_sot_eot_padding():
    model = _model().eval()
    calls = _capture_neck_calls(model)
    inputs, _ = _batch()
    model.encode_text(inputs['text'])
    tokens, scores, glob, candidates, key_padding, modality = calls[0]
    assert modality == 'text'
    assert torch.equal(glob, inputs['text'].argmax(1))
    for i, length in enumerate((5, 9, 24, 12, 3, 17)):
        assert candidates[i].nonzero().flatten().tolist() == list(range(1, length - 1))
        assert key_padding[i].nonzero().flatten().tolist() == list(range(length, 24))
    attention = model.image_backbone.encode_text(inputs['text'], return_attention=True)['attention']
    assert torch.allclose(scores, attention[torch.arange(6), glob])
    model.encode_image(inputs['img'])
    _, scores, glob, candidates, key_padding, modality = calls[1]
    assert modality == 'image' and key_padding is None and not glob.any()
    assert not candidates[:, 0].any() and candidates[:, 1:].all()


def test_separate_bert_text_tower_and_unprojected_image_tokens():
    pytest.importorskip('transformers')
    bert = dict(
        type='HFBertBackbone',
        config=dict(
            vocab_size=50,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=30,
        ),
    )
    model = _model(text_backbone=bert, image_token_key='tokens_unprojected')
    clip = model.image_backbone.clip
    assert not clip.visual.proj.requires_grad and not clip.token_embedding.weight.requires_grad
    assert clip.visual.conv1.weight.requires_grad
    calls = _capture_neck_calls(model)
    inputs, samples = _batch()
    text = torch.randint(5, 50, (6, 30))
    for i, length in enumerate((5, 9, 30, 12, 3, 17)):
        text[i, 0], text[i, length - 1], text[i, length:] = 2, 3, 0
    inputs['text'] = text
    losses = model(inputs, samples, mode='loss')
    sum(losses.values()).backward()
    assert clip.transformer.resblocks[0].attn.in_proj_weight.grad is None
    _, _, glob, candidates, key_padding, _ = calls[1]
    assert not glob.any()
    assert candidates[1].nonzero().flatten().tolist() == list(range(1, 9))  # [SEP] included
    assert model.text_backbone.bert.embeddings.word_embeddings.weight.grad is not None


def test_inference_never_runs_the_training_head():
    model = _model().eval()

    def boom(*_):
        raise AssertionError('training head ran at inference')

    for module in model.head.modules():
        module.register_forward_hook(boom)
    inputs, samples = _batch()
    with torch.no_grad():
        model(inputs, samples, mode='predict')
        model(inputs, mode='tensor')


def _flops(fn, *args):
    with FlopCounterMode(display=False) as counter:
        with torch.no_grad():
            fn(*args)
    return counter.get_total_flops()


def test_inference_cost_close_to_baseline():
    """ViT-B/16 CLIP at 384x128 / 77 tokens, random weights: CFine's retrieval features
    (MGF on top of the same towers) cost only a few percent over the baseline's.

    Like for like: both encode all 77 text positions. CFine's token selection needs the text
    attention, which the backbone never trims; a baseline with ``trim_text_padding=True`` (the
    default) encodes only up to the longest caption and is cheaper on text by that ratio.
    """
    torch.manual_seed(0)
    backbone = MODELS.build(
        dict(
            type='OpenCLIPBackbone',
            model_name='ViT-B-16',
            pretrained=None,
            img_size=(384, 128),
            context_length=77,
            trim_text_padding=False,
        )
    )
    baseline = TextImageRetriever(backbone=backbone).eval()
    cfine = CFineRetriever(
        image_backbone=backbone,
        neck=dict(type='MGFNeck', embed_dims=512, num_heads=8),
        head=_head(512, 11003),
    ).eval()
    img = torch.randn(1, 3, 384, 128)
    text = torch.zeros(1, 77, dtype=torch.long)
    text[0, :30] = torch.randint(1, 40000, (30,))
    text[0, 0], text[0, 29] = SOT, EOT
    for fn_name, x in (('extract_img_feat', img), ('extract_text_feat', text)):
        base = _flops(getattr(baseline, fn_name), x)
        ours = _flops(getattr(cfine, fn_name), x)
        assert 1.0 < ours / base < 1.10, (fn_name, ours / base)
    # Parameters touched at inference: backbone + MGF block + BNNecks; the head is not.
    touched = set()
    hooks = [
        m.register_forward_hook(lambda m, i, o: touched.add(m))
        for m in cfine.modules()
        if not list(m.children())
    ]
    with torch.no_grad():
        cfine.extract_img_feat(img), cfine.extract_text_feat(text)
    for h in hooks:
        h.remove()
    head_modules = set(cfine.head.modules())
    assert not touched & head_modules
    neck_params = sum(p.numel() for p in cfine.neck.parameters())
    backbone_params = sum(p.numel() for p in backbone.parameters())
    assert neck_params / backbone_params < 0.03


def test_mgf_off_trains_and_predicts_global_features_only():
    model = _model(
        neck=dict(type='MGFNeck', embed_dims=32, num_heads=2, img_k_ratio=0.2, refine=False)
    )
    inputs, samples = _batch()
    losses = model(inputs, samples, mode='loss')
    assert losses['loss_div'].item() == 0.0
    sum(losses.values()).backward()
    model.eval()
    assert model.extract_img_feat(inputs['img']).shape == (6, 32)
