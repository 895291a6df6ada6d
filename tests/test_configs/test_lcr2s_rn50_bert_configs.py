# Copyright (c) tpr_mm contributors. All rights reserved.
"""LCR²S in its published architecture: the six configs, real-size parameter counts, TIPCB's
schedule for every epoch, and a tiny teacher -> student run through the runner."""

import copy
import json
import os
import string

import pytest
import torch
import torchvision
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from tpr_mm.apis import prepare_data
from tpr_mm.engine.runner.checkpoint import resolve_checkpoint
from tpr_mm.engine.runner.safe_loading import mmengine_safe_globals
from tpr_mm.registry import MODELS, PARAM_SCHEDULERS, RUNNERS
from tpr_mm.testing.configs import TINY_SYNTHETIC

pytest.importorskip('transformers')

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IDS = {'cuhk': 11003, 'icfg': 3102, 'rstp': 3701}
DATASET = {'cuhk': 'CUHKPEDES', 'icfg': 'ICFGPEDES', 'rstp': 'RSTPReid'}
NAMES = [f'lcr2s_rn50_bert_{s}_{d}' for d in IDS for s in ('teacher', 'student')]
IMAGENET = ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))


def _load(name):
    return Config.fromfile(os.path.join(ROOT, 'configs', f'{name}.py'))


@pytest.mark.parametrize('name', NAMES)
def test_published_configs(name):
    cfg, stage, key = _load(name), name.split('_')[3], name.split('_')[4]
    m = cfg.model
    teacher = m if stage == 'teacher' else m.teacher
    assert m.type == ('LCR2STeacher' if stage == 'teacher' else 'LCR2SStudent')
    bb = m.backbone
    assert bb.type == 'ResNetBertTextCNN' and bb.freeze_bert and bb == teacher.backbone
    res = bb.image_encoder.resnet
    assert res == dict(type='mmpretrain.ResNet', depth=50, strides=(1, 2, 2, 1), out_indices=(3,))
    assert bb.image_encoder.num_parts == 6 and bb.image_encoder.pool == 'max'
    assert bb.bert.pretrained == 'data/pretrained/bert-base-uncased'
    assert bb.text_cnn.in_channels == 768 and bb.text_cnn.out_channels == 2048
    assert (m.data_preprocessor.mean, m.data_preprocessor.std) == IMAGENET
    losses = {loss.type: loss for loss in m.head.losses}
    assert set(losses) == {'CMPMLoss', 'CMPCLoss'} and losses['CMPCLoss'].num_classes == IDS[key]
    assert teacher.img_fusion.embed_dims == 2048 and teacher.support_source == 'dataset'
    if stage == 'student':
        assert m.img_reasoning.embed_dims == m.text_reasoning.embed_dims == 2048
        assert m.teacher_checkpoint == f'work_dirs/lcr2s_rn50_bert_teacher_{key}'
        assert [d.type for d in m.distill_head.losses] == [
            'FeatureDistillLoss',
            'RelationDistillLoss',
        ]
        assert m.teacher == _load(f'lcr2s_rn50_bert_teacher_{key}').model
    train = cfg.train_dataloader
    assert train.batch_size == 64 and train.dataset.type == 'SupportSetDataset'
    assert (train.dataset.num_img_support, train.dataset.num_text_support) == (2, 3)
    inner = train.dataset.dataset
    assert inner.type == DATASET[key] and inner.split == 'train'
    steps = [(t['type'], t.get('scale'), t.get('padding')) for t in inner.pipeline]
    assert steps == [
        ('LoadPersonImage', None, None),
        ('Resize', (128, 384), None),
        ('PadRandomCrop', None, 10),
        ('RandomHorizontalFlip', None, None),
        ('BertTokenizeCaption', None, None),
        ('PackTextReIDInputs', None, None),
    ]
    assert inner.pipeline[1].interpolation == 'bicubic'
    assert inner.pipeline[4].context_length == 64
    tests = [cfg.test_dataloader] + ([cfg.val_dataloader] if cfg.get('val_dataloader') else [])
    assert len(tests) == (1 if key == 'icfg' else 2)
    for loader in tests:
        assert [t['type'] for t in loader.dataset.pipeline][1:3] == [
            'Resize',
            'BertTokenizeCaption',
        ]
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.eps, opt.weight_decay) == ('Adam', 3e-3, 1e-8, 0.0)
    assert cfg.train_cfg.max_epochs == 80


def test_base_model_needs_identity_count():
    head = _load('lcr2s_rn50_bert_teacher_cuhk').model.head.losses[1]
    with pytest.raises(ValueError, match='CMPCLoss needs num_classes'):
        MODELS.build(dict(head, num_classes=None))


def _tipcb_lr(epoch):
    """TIPCB (function.gradual_warmup + StepLR(50, 0.1) stepped after each epoch), 0-indexed."""
    lr = 3e-3
    if epoch < 10:
        lr = 3e-3 * (epoch + 1) / 10
    if epoch >= 50:
        lr = lr * 0.1
    return lr


def test_tipcb_schedule_every_epoch():
    cfg = _load('lcr2s_rn50_bert_teacher_cuhk')
    model = torch.nn.Linear(4, 2)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    scheds = [PARAM_SCHEDULERS.build(dict(s, optimizer=wrapper)) for s in cfg.param_scheduler]
    lrs = []
    for _ in range(cfg.train_cfg.max_epochs):
        lrs.append([g['lr'] for g in wrapper.optimizer.param_groups])
        wrapper.step()  # no gradients: a no-op that keeps the step order torch expects
        for s in scheds:
            s.step()
    assert len(lrs) == 80
    for epoch, group_lrs in enumerate(lrs):
        for lr in group_lrs:
            assert lr == pytest.approx(_tipcb_lr(epoch), rel=1e-9), epoch


def test_real_size_parameter_counts_and_shapes():
    """ResNet-50, TextCNN, MHAF and reasoning layers at real size with random weights; BERT-base
    is replaced by a one-layer 768-wide stand-in (a random BERT-base takes ~10 s to build) and
    counted separately."""
    cfg = _load('lcr2s_rn50_bert_teacher_cuhk')
    m = copy.deepcopy(cfg.model)
    m.backbone.image_encoder.pretrained = None
    stand_in = dict(
        vocab_size=64,
        hidden_size=768,
        num_hidden_layers=1,
        num_attention_heads=12,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    m.backbone.bert = dict(type='HFBertBackbone', config=stand_in)
    torch.manual_seed(0)
    teacher = MODELS.build(m).eval()
    student_cfg = _load('lcr2s_rn50_bert_student_cuhk').model
    student = MODELS.build(
        dict(
            type='LCR2SStudent',
            backbone=teacher.backbone,
            img_reasoning=student_cfg.img_reasoning,
            text_reasoning=student_cfg.text_reasoning,
        )
    ).eval()

    def count(mod):
        return sum(p.numel() for p in mod.parameters())

    with torch.device('meta'):
        resnet50 = count(torchvision.models.resnet50(weights=None)) - (2048 * 1000 + 1000)
        bert_base = count(MODELS.build(dict(type='HFBertBackbone', config={})))
    d, hidden = 2048, 4096
    block = 4 * d * d + 4 * d + (d * hidden + hidden + hidden * d + d) + 4 * d  # MHA, FFN, 2 LN
    bb = teacher.backbone
    assert count(bb.image_encoder) == resnet50 == 23_508_032
    assert count(bb.text_cnn) == 51_759_104  # closed form in test_resnet_bert_textcnn.py
    assert bert_base == 108_891_648  # BERT-base without pooler
    assert count(teacher.img_fusion) == count(student.text_reasoning) == block == 33_576_960
    assert count(teacher.head) == 2048 * 11003
    frozen = count(bb.bert)
    trainable = sum(p.numel() for p in teacher.parameters() if p.requires_grad)
    assert trainable == count(teacher) - frozen
    assert count(teacher) - frozen + bert_base == 273_846_848  # published-size teacher
    assert count(student) - frozen + bert_base == 251_312_704  # inference model
    with torch.no_grad():
        img = torch.randn(1, 3, 384, 128)
        vis = bb.encode_image(img, return_tokens=True)
        text = torch.randint(5, 60, (1, 64))
        text[0, 0], text[0, 20], text[0, 21:] = 2, 3, 0
        h_t = student.extract_text_feat(text)
    assert vis['tokens'].shape == (1, 7, 2048)
    assert bb.image_encoder(img)['feature_map'].shape == (1, 2048, 24, 8)
    assert h_t.shape == (1, 2048)


# -- tiny teacher -> student through the runner, on the synthetic set ----------------------------


def _vocab(data_root, path):
    records = json.loads(open(os.path.join(data_root, 'reid_raw.json')).read())
    words = {w.lower() for r in records for caption in r['processed_tokens'] for w in caption}
    specials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]']
    tokens = specials + sorted(words - set(specials)) + list(string.punctuation)
    with open(path, 'w') as f:
        f.write('\n'.join(tokens) + '\n')
    return len(tokens)


def _tiny(cfg, work_dir, data_root, vocab, vocab_size):
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if not loader:
            continue
        loader.update(num_workers=0, persistent_workers=False)
        loader.batch_size = 8 if key == 'train_dataloader' else 16
        inner = loader.dataset.get('dataset', loader.dataset)
        inner.update(type='SyntheticPEDES', data_root=data_root, **TINY_SYNTHETIC)
        for t in inner.pipeline:
            if t['type'] == 'Resize':
                t['scale'] = (32, 96)
            elif t['type'] == 'PadRandomCrop':
                t['padding'] = 2
            elif t['type'] == 'BertTokenizeCaption':
                t.update(vocab=vocab, context_length=24)
    cfg.train_dataloader.dataset.dataset.indices = 24  # 3 iterations of 8
    bert = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=24,
    )

    def shrink(model):
        bb = model.backbone
        bb.image_encoder.update(pretrained=None)
        bb.image_encoder.resnet.update(depth=18, stem_channels=8, base_channels=8)
        bb.bert = dict(type='HFBertBackbone', config=bert)
        bb.text_cnn.update(in_channels=32, stem_channels=24, out_channels=64, width=16)
        model.head.losses[1].update(in_channels=64, num_classes=TINY_SYNTHETIC['num_train_ids'])
        for key in ('img_fusion', 'text_fusion', 'img_reasoning', 'text_reasoning'):
            if key in model:
                model[key].update(embed_dims=64, num_heads=4)

    shrink(cfg.model)
    if cfg.model.get('teacher') is not None:
        shrink(cfg.model.teacher)
    # One epoch, no validation: a single checkpoint (saving one dumps this large config).
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.default_hooks.checkpoint.update(save_best=None, save_last=False)
    cfg.param_scheduler = [dict(s, end=1) for s in cfg.param_scheduler]
    cfg.param_scheduler[1]['milestones'] = [1]
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    return cfg


def _state(path):
    with mmengine_safe_globals():
        return torch.load(path, map_location='cpu', weights_only=True)['state_dict']


def test_tiny_teacher_then_student_train_through_the_runner(tmp_path):
    data_root = str(tmp_path / 'synthetic')
    prepare_data(dict(dataset=dict(type='SyntheticPEDES', data_root=data_root, **TINY_SYNTHETIC)))
    vocab = str(tmp_path / 'vocab.txt')
    size = _vocab(data_root, vocab)
    cfg = _tiny(_load('lcr2s_rn50_bert_teacher_rstp'), str(tmp_path / 't'), data_root, vocab, size)
    cfg.experiment_name = 'lcr2s_rn50_bert_tiny_teacher'
    runner = RUNNERS.build(cfg)
    runner.train()
    logged = runner.message_hub.log_scalars
    assert 'train/loss_cmpm' in logged and 'train/loss_cmpc' in logged
    teacher_ckpt = resolve_checkpoint(str(tmp_path / 't'))

    cfg = _tiny(_load('lcr2s_rn50_bert_student_rstp'), str(tmp_path / 's'), data_root, vocab, size)
    cfg.model.teacher_checkpoint = str(tmp_path / 't')
    # The teacher's weights come from its checkpoint: its ImageNet file is never read.
    cfg.model.teacher = copy.deepcopy(cfg.model.teacher)  # not shared with the student's
    cfg.model.teacher.backbone.image_encoder.pretrained = str(tmp_path / 'moved_away.pth')
    cfg.experiment_name = 'lcr2s_rn50_bert_tiny_student'
    runner = RUNNERS.build(cfg)
    initial = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.train()
    logged = runner.message_hub.log_scalars
    for key in ('loss_cmpm', 'loss_cmpc', 'loss_feat_kd', 'loss_rel_kd'):
        assert f'train/{key}' in logged, key
    teacher = runner.model.teacher
    saved = _state(teacher_ckpt)
    assert all(torch.equal(v.cpu(), saved[k]) for k, v in teacher.state_dict().items())
    final = runner.model.state_dict()
    changed = {k for k, v in final.items() if not torch.equal(v, initial[k])}
    assert any(k.startswith('img_reasoning') for k in changed)
    assert any(k.startswith('backbone.text_cnn') for k in changed)
    assert any(k.startswith('backbone.image_encoder') for k in changed)
    assert not any(k.startswith('backbone.bert') for k in changed)  # frozen
    metrics = runner.test()
    assert set(metrics) == {'t2i/R1', 't2i/R5', 't2i/R10', 't2i/mAP', 't2i/mINP'}


def test_metafile_lists_every_lcr2s_config():
    import glob

    import yaml

    with open(os.path.join(ROOT, 'configs', 'metafiles', 'lcr2s.yml')) as f:
        meta = yaml.safe_load(f)
    (coll,) = meta['Collections']
    assert coll['Name'] == 'LCR2S' and coll['README'] == 'docs/methods/lcr2s.md'
    assert os.path.isfile(os.path.join(ROOT, coll['README']))
    stems = {os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, 'configs', 'lcr2s_*'))}
    models = {m['Name']: m for m in meta['Models']}
    assert set(models) == stems
    published = {'cuhk': 67.36, 'icfg': 57.93, 'rstp': 54.95}
    for name, m in models.items():
        assert m['In Collection'] == 'LCR2S' and m['Config'] == f'configs/{name}.py'
        kind = 'published' if name.startswith('lcr2s_rn50_bert_') else 'adaptation'
        assert m['Metadata']['Architecture Kind'] == kind, name
        key = name.rsplit('_', 1)[-1]
        if key in published and '_student_' in name:
            (res,) = m['Results']
            assert res['Task'] == 'Text-to-Image Person Retrieval'
            assert res['Metrics']['Rank-1'] == published[key]
        else:
            assert 'Results' not in m, name
