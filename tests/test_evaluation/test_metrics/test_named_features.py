# Copyright (c) tpr_mm contributors. All rights reserved.
"""TextImageRetrievalMetric rows per named feature set (RDE's BGE / TSE / BGE+TSE table)."""

import math

import pytest
import torch
import torch.nn.functional as F

from tpr_mm.evaluation import naive_rank_metrics
from tpr_mm.registry import METRICS
from tpr_mm.structures import TextReIDDataSample


def _predictions(seed=0, nq=40, ng=15, dims=(8, 12)):
    """RDE-style predictions: unit BGE / TSE features and their sqrt(1/2)-scaled concatenation."""
    g = torch.Generator().manual_seed(seed)
    q_ids = torch.randint(0, 5, (nq,), generator=g)
    g_ids = torch.cat([torch.arange(5), torch.randint(0, 5, (ng - 5,), generator=g)])
    feats = {}
    for view, n, ids in (('text', nq, q_ids), ('img', ng, g_ids)):
        for name, d in zip(('bge', 'tse'), dims):
            # A shared per-identity direction makes the ranking non-trivial.
            base = torch.randn(5, d, generator=g)[ids]
            feats[view, name] = F.normalize(base + 1.5 * torch.randn(n, d, generator=g), dim=1)
    samples = []
    for view, field, n, ids in (('text', 'text_feat', nq, q_ids), ('img', 'img_feat', ng, g_ids)):
        both = torch.cat([feats[view, 'bge'], feats[view, 'tse']], dim=1) / math.sqrt(2)
        for i in range(n):
            s = TextReIDDataSample(metainfo=dict(sample_idx=i, pid=int(ids[i])))
            s.set_field(both[i], field)
            s.set_field(feats[view, 'bge'][i], f'{field}_bge')
            s.set_field(feats[view, 'tse'][i], f'{field}_tse')
            samples.append(s.to_dict())
    sims = {k: feats['text', k] @ feats['img', k].t() for k in ('bge', 'tse')}
    return samples, sims, q_ids, g_ids


def test_rows_equal_naive_metrics_of_each_similarity():
    samples, sims, q_ids, g_ids = _predictions()
    metric = METRICS.build(dict(type='TextImageRetrievalMetric', named_features=('bge', 'tse')))
    metric.process({}, samples)
    got = metric.evaluate(len(samples))
    rows = {
        '': (sims['bge'] + sims['tse']) / 2,  # RDE's evaluator: BGE+TSE = average of the two
        'bge/': sims['bge'],
        'tse/': sims['tse'],
    }
    for prefix, sim in rows.items():
        want = naive_rank_metrics(sim.double(), q_ids, g_ids)
        for k, v in want.items():
            assert got[f't2i/{prefix}{k}'] == pytest.approx(v, abs=1e-6), (prefix, k)
    assert len(got) == 15
    assert got['t2i/bge/R1'] != got['t2i/tse/R1'] or got['t2i/bge/mAP'] != got['t2i/tse/mAP']


def test_plain_metric_keys_unchanged_and_missing_fields_raise():
    samples, _, _, _ = _predictions(seed=1)
    plain = METRICS.build(dict(type='TextImageRetrievalMetric'))
    plain.process({}, samples)
    assert sorted(plain.evaluate(len(samples))) == sorted(
        f't2i/{k}' for k in ('R1', 'R5', 'R10', 'mAP', 'mINP')
    )
    metric = METRICS.build(dict(type='TextImageRetrievalMetric', named_features=('vse',)))
    with pytest.raises(KeyError, match='text_feat_vse'):
        metric.process({}, samples)
    with pytest.raises(ValueError, match='named_features'):
        METRICS.build(dict(type='TextImageRetrievalMetric', named_features=('a', 'a')))


def test_an_unwritable_ranking_file_keeps_the_metrics(tmp_path, caplog):
    """A bad ranking path is reported; the metrics of the (long) test are still returned."""
    samples, *_ = _predictions()
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')
    out = blocker / 'rankings.json'  # its "folder" is a file: makedirs fails
    metric = METRICS.build(dict(type='TextImageRetrievalMetric', ranking_file=str(out)))
    metric.process({}, samples)
    reference = METRICS.build(dict(type='TextImageRetrievalMetric'))
    reference.process({}, samples)
    assert metric.evaluate(len(samples)) == reference.evaluate(len(samples))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a_file']
