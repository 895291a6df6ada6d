# Copyright (c) tpr_mm contributors. All rights reserved.
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from tpr_mm.models.retrievers.lcr2s_teacher import in_batch_support
from tpr_mm.registry import MODELS
from tpr_mm.structures import TextReIDDataSample
from tpr_mm.testing.configs import tiny_model_cfg

IMG, CTX = (32, 16), 24


def _backbone():
    return {
        'type': 'OpenCLIPBackbone',
        'pretrained': None,
        'img_size': IMG,
        'context_length': CTX,
        'model_cfg': tiny_model_cfg(IMG, CTX),
    }


def _head():
    return {'type': 'GlobalMatchingHead', 'losses': [{'type': 'SDMLoss'}]}


def _teacher_cfg(source='dataset'):
    return {
        'type': 'LCR2STeacher',
        'backbone': _backbone(),
        'head': _head(),
        'support_source': source,
        'img_fusion': {'type': 'MultiHeadAttentionalFusion', 'num_heads': 4},
        'text_fusion': {'type': 'MultiHeadAttentionalFusion', 'num_heads': 4},
    }


def _student_cfg(**kwargs):
    return dict(
        type='LCR2SStudent',
        backbone=_backbone(),
        head=_head(),
        img_reasoning={'type': 'TokenReasoningLayer', 'num_heads': 4},
        text_reasoning={'type': 'TokenReasoningLayer', 'num_heads': 4},
        **kwargs,
    )


def _text(n, gen):
    text = torch.zeros(n, CTX, dtype=torch.long)
    for i in range(n):
        length = int(torch.randint(3, CTX - 1, (1,), generator=gen))
        text[i, 0] = 49406
        text[i, 1:length] = torch.randint(1, 49000, (length - 1,), generator=gen)
        text[i, length] = 49407
    return text


def _batch(pids, image_ids, k_img=2, k_txt=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    b = len(pids)
    inputs = {
        'img': torch.randn(b, 3, *IMG, generator=gen),
        'text': _text(b, gen),
        'support_img': torch.randn(b, k_img, 3, *IMG, generator=gen),
        'support_text': _text(b * k_txt, gen).view(b, k_txt, CTX),
    }
    samples = [
        TextReIDDataSample(metainfo={'pid': p, 'image_id': i, 'caption_id': c})
        for c, (p, i) in enumerate(zip(pids, image_ids))
    ]
    return inputs, samples


def test_in_batch_support_matches_naive_rule():
    pids = torch.tensor([0, 1, 0, 0, 2, 1, 0])
    views = torch.tensor([10, 11, 10, 12, 13, 14, 15])
    index, valid = in_batch_support(pids, views, k=3, generator=torch.Generator().manual_seed(0))
    assert index.shape == valid.shape == (7, 2)  # row 0: views 12 and 15 (10 is its own)
    for i in range(7):
        got = index[i][valid[i]].tolist()
        others = {int(views[j]) for j in range(7) if pids[j] == pids[i] and views[j] != views[i]}
        assert {int(views[j]) for j in got} == others and len(got) == len(others)
        assert all(pids[j] == pids[i] and views[j] != views[i] for j in got)
    index, valid = in_batch_support(pids, views, k=1)
    assert valid.sum(1).tolist() == [1, 1, 1, 1, 0, 1, 1]


def test_teacher_fuses_dataset_supports_and_backpropagates():
    torch.manual_seed(0)
    teacher = MODELS.build(_teacher_cfg())
    inputs, samples = _batch([0, 1, 0, 2, 1], [0, 1, 2, 3, 4])
    losses = teacher.loss(inputs, samples)
    assert set(losses) == {'loss_sdm'}
    losses['loss_sdm'].backward()
    assert teacher.img_fusion.attn.in_proj_weight.grad.abs().sum() > 0
    assert teacher.backbone.clip.visual.conv1.weight.grad.abs().sum() > 0
    teacher.eval()
    with torch.no_grad():
        e_v, e_t = teacher.extract_enriched(inputs, samples)
        g = teacher.backbone.encode_image(inputs['img'])['global']
        gs = teacher.backbone.encode_image(inputs['support_img'].flatten(0, 1))['global']
        ref = teacher.img_fusion(g, gs.view(5, 2, -1))
        torch.testing.assert_close(e_v, ref, rtol=1e-4, atol=1e-5)
        assert e_t.shape == (5, 32)
        # Single-input path = fusion with the anchor only.
        single = teacher({'img': inputs['img']}, mode='tensor')['img_feats']
        torch.testing.assert_close(single, teacher.img_fusion(g), rtol=1e-4, atol=1e-5)


def test_teacher_batch_and_none_supports():
    torch.manual_seed(0)
    teacher = MODELS.build(_teacher_cfg('batch')).eval()
    inputs, samples = _batch([0, 1, 0, 0, 1], [0, 1, 0, 2, 3])
    inputs = {'img': inputs['img'], 'text': inputs['text']}
    enc = teacher.encode_with_support(inputs, samples)
    # Images: row 0 shares image 0 with row 2 -> only image 2 is another view.
    assert enc['img_support_mask'].sum(1).tolist() == [1, 1, 1, 1, 1]
    assert enc['text_support_mask'].sum(1).tolist() == [2, 1, 2, 2, 1]
    assert torch.isfinite(teacher.loss(inputs, samples)['loss_sdm'])
    none = MODELS.build(_teacher_cfg('none'))
    assert none.encode_with_support(inputs, samples)['img_support'].shape == (5, 0, 32)
    with pytest.raises(KeyError, match='SupportSetDataset'):
        MODELS.build(_teacher_cfg('dataset')).loss(inputs, samples)


def _flops(fn, *args):
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn(*args)
    return counter.get_total_flops()


def test_student_inference_cost_is_baseline_plus_reasoning_layer():
    torch.manual_seed(0)
    student = MODELS.build(_student_cfg()).eval()
    baseline = MODELS.build({'type': 'TextImageRetriever', 'backbone': _backbone()}).eval()
    count = lambda mods: sum(p.numel() for m in mods for p in m.parameters())  # noqa: E731
    d, hidden = 32, 128
    layer_params = (
        (3 * d * d + 3 * d) + (d * d + d) + (d * hidden + hidden + hidden * d + d) + 4 * d
    )
    assert count([student.img_reasoning]) == count([student.text_reasoning]) == layer_params
    assert count(student.inference_modules()) == count([baseline.backbone]) + 2 * layer_params
    # Everything the student saves is used for inference (plus its training head).
    assert {k.split('.')[0] for k in student.state_dict()} <= {
        'backbone',
        'img_reasoning',
        'text_reasoning',
        'head',
        'data_preprocessor',
    }

    gen = torch.Generator().manual_seed(1)
    img, text = torch.randn(3, 3, *IMG, generator=gen), _text(3, gen)
    visual = student.backbone.clip.visual
    n_tok = (IMG[0] // 8) * (IMG[1] // 8)
    tokens = torch.randn(3, 1 + n_tok, d)
    proj_img = 2 * 3 * n_tok * visual.proj.shape[0] * d  # projecting the patch tokens too
    extra_img = _flops(student.img_reasoning, tokens) + proj_img
    assert (
        _flops(student.extract_img_feat, img) - _flops(baseline.extract_img_feat, img) == extra_img
    )
    out = student.backbone.encode_text(text, return_tokens=True)
    # tokens as the backbone kept them (padding trimmed to the longest caption)
    proj_txt = 2 * 3 * (out['tokens'].shape[1] - 1) * student.backbone.text_width * d
    extra_txt = (
        _flops(student.text_reasoning, out['tokens'], out['eot_index'], out['mask']) + proj_txt
    )
    assert (
        _flops(student.extract_text_feat, text) - _flops(baseline.extract_text_feat, text)
        == extra_txt
    )
    assert student.teacher is None  # inference never builds the teacher


def _distill_head(*losses):
    return {'type': 'DistillationHead', 'losses': list(losses)}


def test_student_without_distillation_needs_no_teacher():
    torch.manual_seed(0)
    student = MODELS.build(_student_cfg())
    inputs, samples = _batch([0, 1, 0, 2, 1], [0, 1, 2, 3, 4])
    losses = student.loss({'img': inputs['img'], 'text': inputs['text']}, samples)
    assert set(losses) == {'loss_sdm'} and student.teacher is None
    with pytest.raises(ValueError, match='teacher config'):
        MODELS.build(_student_cfg(distill_head=_distill_head({'type': 'FeatureDistillLoss'})))
    bad = MODELS.build(
        _student_cfg(
            teacher=_teacher_cfg(), distill_head=_distill_head({'type': 'FeatureDistillLoss'})
        )
    )
    with pytest.raises(ValueError, match='teacher_checkpoint'):
        bad.loss(inputs, samples)


def test_student_distils_from_frozen_teacher_file(tmp_path):
    torch.manual_seed(0)
    teacher = MODELS.build(_teacher_cfg())
    torch.save({'state_dict': teacher.state_dict(), 'meta': {'epoch': 1}}, tmp_path / 'best.pth')
    student = MODELS.build(
        _student_cfg(
            teacher=_teacher_cfg(),
            teacher_checkpoint=str(tmp_path / 'best.pth'),
            distill_head=_distill_head(
                {'type': 'FeatureDistillLoss', 'loss_weight': 0.5},
                {'type': 'RelationDistillLoss', 'loss_weight': 2.0},
            ),
        )
    )
    student.train()
    inputs, samples = _batch([0, 1, 0, 2, 1], [0, 1, 2, 3, 4])
    losses = student.loss(inputs, samples)
    assert set(losses) == {'loss_sdm', 'loss_feat_kd', 'loss_rel_kd'}
    frozen = student.teacher
    assert frozen is not None and not frozen.training
    assert all(not p.requires_grad for p in frozen.parameters())
    student.train()
    assert not frozen.training and student.training
    for key, value in teacher.state_dict().items():
        torch.testing.assert_close(frozen.state_dict()[key], value)
    sum(losses.values()).backward()
    assert all(p.grad is None for p in frozen.parameters())
    # Not part of the student's module tree: not saved, not optimised.
    assert not any(k.startswith('teacher') or '_teacher' in k for k in student.state_dict())
    assert sum(p.numel() for p in student.parameters()) < 2 * sum(
        p.numel() for p in teacher.parameters()
    )
