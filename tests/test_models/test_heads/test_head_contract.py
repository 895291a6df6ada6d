# Copyright (c) tpr_mm contributors. All rights reserved.
"""The head/loss contract: losses declare what they need, heads own and dispatch them."""

import os

import pytest
import torch
from mmengine.config import Config

from tpr_mm.models.heads import BaseRetrievalHead, CFineHead, CPCLHead, DistillationHead
from tpr_mm.models.losses import BaseLoss
from tpr_mm.models.utils import build_losses, build_module
from tpr_mm.registry import MODELS
from tpr_mm.structures import RetrievalFeatures, TextReIDDataSample

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CALLS = []


@MODELS.register_module(name='ContractRecordingLoss', force=True)
class RecordingLoss(BaseLoss):
    """Records the keyword inputs it got; returns their first feature's mean."""

    needs = frozenset({'img_feats', 'labels'})

    def __init__(self, loss_weight: float = 1.0, loss_name: str = 'loss_record') -> None:
        super().__init__(loss_weight, loss_name)

    def forward(self, img_feats, labels):
        CALLS.append({'img_feats': img_feats, 'labels': labels})
        return self.loss_weight * img_feats.mean()


@MODELS.register_module(name='ContractPairOnlyLoss', force=True)
class PairOnlyLoss(BaseLoss):
    needs = frozenset({'img_feats', 'text_feats'})

    def __init__(self, loss_name: str = 'loss_pair') -> None:
        super().__init__(1.0, loss_name)

    def forward(self, img_feats, text_feats):
        return (img_feats - text_feats).pow(2).mean()


def _samples(pids):
    return [TextReIDDataSample(metainfo=dict(pid=p)) for p in pids]


def _feats(n=4, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return RetrievalFeatures(torch.randn(n, d, generator=g), torch.randn(n, d, generator=g))


def test_unique_loss_names_are_enforced_with_a_clear_error():
    with pytest.raises(ValueError, match=r"loss names must be unique.*\['loss_sdm'\]"):
        MODELS.build(
            dict(type='GlobalMatchingHead', losses=[dict(type='SDMLoss'), dict(type='SDMLoss')])
        )
    head = MODELS.build(
        dict(
            type='GlobalMatchingHead',
            losses=[dict(type='SDMLoss'), dict(type='SDMLoss', loss_name='loss_sdm_2')],
        )
    )
    assert set(head.loss(_feats(), _samples([0, 1, 0, 1]))) == {'loss_sdm', 'loss_sdm_2'}


def test_losses_must_declare_needs():
    with pytest.raises(TypeError, match='not a BaseLoss'):
        build_losses([torch.nn.Identity()], 'SomeHead')
    with pytest.raises(ValueError, match='at least one loss'):
        build_losses([], 'SomeHead')
    with pytest.raises(TypeError, match=r"needs \['labels'\] that its forward"):

        class Bad(BaseLoss):  # noqa: F841
            needs = frozenset({'img_feats', 'labels'})

            def forward(self, img_feats):
                return img_feats.sum()

    with pytest.raises(ValueError, match="must contain 'loss'"):
        RecordingLoss(loss_name='record')


def test_head_calls_each_loss_with_exactly_what_it_declared():
    CALLS.clear()
    head = MODELS.build(
        dict(
            type='GlobalMatchingHead',
            losses=[dict(type='ContractRecordingLoss', loss_weight=2.0)],
            label_key='pseudo',
        )
    )
    feats = _feats()
    samples = [TextReIDDataSample(metainfo=dict(pseudo=p)) for p in (3, 1, 3, 0)]
    out = head.loss(feats, samples)
    assert len(CALLS) == 1 and set(CALLS[0]) == {'img_feats', 'labels'}
    assert CALLS[0]['img_feats'] is feats.img_global
    assert CALLS[0]['labels'].tolist() == [3, 1, 3, 0]
    assert torch.allclose(out['loss_record'], 2.0 * feats.img_global.mean())


def test_labels_are_looked_up_only_when_a_loss_needs_them():
    head = MODELS.build(dict(type='GlobalMatchingHead', losses=[dict(type='ContractPairOnlyLoss')]))
    assert head.needs == {'img_feats', 'text_feats'}
    feats = _feats()
    out = head.loss(feats, [TextReIDDataSample() for _ in range(4)])  # no pid field at all
    expected = (feats.img_global - feats.text_global).pow(2).mean()
    assert torch.allclose(out['loss_pair'], expected)
    labelled = MODELS.build(dict(type='GlobalMatchingHead', losses=[dict(type='SDMLoss')]))
    with pytest.raises(KeyError, match='pid'):
        labelled.loss(feats, [TextReIDDataSample() for _ in range(4)])


def test_a_need_the_head_cannot_provide_fails_at_build_time():
    with pytest.raises(ValueError, match=r"needs \['teacher_img', 'teacher_text'\]"):
        MODELS.build(dict(type='GlobalMatchingHead', losses=[dict(type='FeatureDistillLoss')]))
    with pytest.raises(ValueError, match=r"needs \['img_protos', 'txt_protos'\]"):
        CPCLHead(losses=[dict(type='IntraModalPrototypeLoss')], memory=None)
    CPCLHead(losses=[dict(type='PseudoLabelSDMLoss')], memory=None)  # no prototypes needed
    with pytest.raises(ValueError, match=r"needs \['scores'\]"):
        CFineHead(losses=[dict(type='HardestNegativeRankingLoss')])


def test_custom_loss_is_one_config_line(tmp_path):
    cfg_file = tmp_path / 'with_record.py'
    base = os.path.join(ROOT, 'configs', 'clip_sdm_synthetic.py')
    cfg_file.write_text(
        f'_base_ = [{base!r}]\n'
        'model = dict(head=dict(losses=[\n'
        "    *_base_.model.head.losses, dict(type='ContractRecordingLoss')]))\n"
    )
    head_cfg = Config.fromfile(str(cfg_file)).model.head
    assert [c.type for c in head_cfg.losses] == ['SDMLoss', 'ITCLoss', 'ContractRecordingLoss']
    CALLS.clear()
    head = MODELS.build(head_cfg)
    out = head.loss(_feats(), _samples([0, 1, 1, 2]))
    assert set(out) == {'loss_sdm', 'loss_itc', 'loss_record'}
    assert len(CALLS) == 1 and set(CALLS[0]) == RecordingLoss.needs
    assert CALLS[0]['labels'].tolist() == [0, 1, 1, 2]


def test_loss_dict_form_changes_or_drops_one_loss():
    head = MODELS.build(
        dict(
            type='GlobalMatchingHead',
            losses=dict(sdm=dict(type='SDMLoss'), itc=None, pair=dict(type='ContractPairOnlyLoss')),
        )
    )
    assert list(head.losses) == ['sdm', 'pair']
    assert set(head.loss(_feats(), _samples([0, 1, 0, 1]))) == {'loss_sdm', 'loss_pair'}


def test_distillation_head_needs_teacher_features():
    head = DistillationHead(
        losses=[dict(type='FeatureDistillLoss'), dict(type='RelationDistillLoss')]
    )
    feats = _feats()
    with pytest.raises(ValueError, match='DistillationHead needs RetrievalFeatures.teacher_img'):
        head.loss(feats, _samples([0, 1, 2, 3]))
    teacher = _feats(seed=1)
    both = RetrievalFeatures(
        feats.img_global,
        feats.text_global,
        teacher_img=teacher.img_global,
        teacher_text=teacher.text_global,
    )
    out = head.loss(both, _samples([0, 1, 2, 3]))
    mse = torch.nn.functional.mse_loss
    expected = mse(feats.img_global, teacher.img_global) + mse(
        feats.text_global, teacher.text_global
    )
    assert torch.allclose(out['loss_feat_kd'], expected)
    assert set(out) == {'loss_feat_kd', 'loss_rel_kd'}


def test_retrieval_features_check_pairs():
    with pytest.raises(ValueError, match='3 images but 4 captions'):
        RetrievalFeatures(torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r'must be \(N, D\)'):
        RetrievalFeatures(torch.zeros(3), torch.zeros(3))
    assert _feats().num_pairs == 4


def test_build_module_passes_modules_and_fills_defaults():
    m = torch.nn.Linear(2, 2)
    assert build_module(m) is m and build_module(None) is None
    built = build_module(dict(type='IDLoss', num_classes=3), default_args=dict(in_channels=5))
    assert built.classifier.in_features == 5
    kept = build_module(dict(type='IDLoss', in_channels=4, num_classes=3), dict(in_channels=5))
    assert kept.classifier.in_features == 4
    with pytest.raises(TypeError, match='config dict or an nn.Module'):
        build_module('SDMLoss')


def test_cfine_head_loads_checkpoints_of_the_slot_layout():
    def make():
        torch.manual_seed(0)
        return CFineHead(losses=dict(cmpc=dict(type='CMPCLoss', in_channels=4, num_classes=3)))

    head = make()
    old = {'cmpc.classifier_weight': torch.randn(4, 3)}  # before the loss list
    head.load_state_dict(old)
    assert torch.equal(head.losses['cmpc'].classifier_weight, old['cmpc.classifier_weight'])
    assert isinstance(head, BaseRetrievalHead)
