# Copyright (c) tpr_mm contributors. All rights reserved.
"""Text-to-image retrieval metric: Rank-k, mAP and mINP.

Source: the evaluation protocol of anosorae/IRRA:utils/metrics.py (``Evaluator``, ``rank``).
"""

import json
import logging
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.dist import all_gather_object, get_world_size
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from tpr_mm.fileio import atomic_write_text
from tpr_mm.registry import METRICS
from tpr_mm.utils.dist import broadcast_from_rank0

from ..functional import rank_metrics_from_features, topk_indices


@METRICS.register_module()
class TextImageRetrievalMetric(BaseMetric):
    """Rank every gallery image for every query caption.

    ``process`` receives predictions of both views — gallery images carrying
    ``img_feat`` and query captions carrying ``text_feat`` — and keeps each
    item's embedding, identity and index. ``compute_metrics`` ranks with
    :func:`tpr_mm.evaluation.rank_metrics_from_features` (exact, chunked,
    ties broken by gallery index; see its docstring).

    Under distributed evaluation the padded sampler repeats a few items; every
    rank's results are gathered and de-duplicated by (view, ``sample_idx``),
    so the numbers equal a single-process run.

    **Named feature sets** (``named_features``): a model may store further
    embeddings per item as ``img_feat_<name>`` / ``text_feat_<name>`` (e.g.
    RDE's ``bge`` and ``tse`` next to its combined ``img_feat``); each name
    adds a row of the same metrics under ``<prefix>/<name>/``, ranked with
    that feature set alone. The ``img_feat`` / ``text_feat`` row keeps the
    plain keys (checkpoint selection, logs).

    Args:
        ks (Sequence[int]): Ranks reported as ``R{k}``. Defaults to (1, 5, 10).
        ranking_file (str, optional): Write each query's top ``ranking_topk``
            gallery images (path, identity, score) to this JSON file.
        ranking_topk (int): Defaults to 10.
        prefix (str, optional): Metric key prefix. Defaults to ``'t2i'``.
        named_features (Sequence[str]): Extra feature sets to report, each
            read from ``img_feat_<name>`` / ``text_feat_<name>``. Defaults to none.
        collect_device (str): Unused (gathering uses object collectives);
            kept for mmengine compatibility.
    """

    default_prefix = 't2i'

    def __init__(
        self,
        ks: Sequence[int] = (1, 5, 10),
        ranking_file: Optional[str] = None,
        ranking_topk: int = 10,
        collect_device: str = 'cpu',
        prefix: Optional[str] = None,
        named_features: Sequence[str] = (),
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ks = tuple(int(k) for k in ks)
        self.named_features = tuple(named_features)
        bad = [n for n in self.named_features if not n or '/' in n]
        if bad or len(set(self.named_features)) != len(self.named_features):
            raise ValueError(
                f'named_features must be unique names without "/", got {named_features}'
            )
        self.ranking_file = ranking_file
        self.ranking_topk = ranking_topk

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if 'text_feat' in sample:
                view, feat = 'text', sample['text_feat']
            elif 'img_feat' in sample:
                view, feat = 'image', sample['img_feat']
            else:
                raise KeyError('a prediction carries neither "text_feat" nor "img_feat"')
            field = 'text_feat' if view == 'text' else 'img_feat'
            named = {}
            for name in self.named_features:
                key = f'{field}_{name}'
                if key not in sample:
                    raise KeyError(
                        f'named_features has {name!r} but a {view} prediction carries no '
                        f'{key!r}; does the model store it in predict()?'
                    )
                named[name] = sample[key].detach().cpu()
            self.results.append(
                dict(
                    view=view,
                    idx=int(sample['sample_idx']),
                    pid=int(sample['pid']),
                    feat=feat.detach().cpu(),
                    named=named,
                    name=sample.get('img_path') if view == 'image' else sample.get('caption'),
                )
            )

    @staticmethod
    def _split_views(results: List[dict]):
        unique = {}
        for item in results:
            unique[(item['view'], item['idx'])] = item
        views = {'text': [], 'image': []}
        for (view, _), item in sorted(unique.items(), key=lambda kv: kv[0]):
            views[view].append(item)
        return views['text'], views['image']

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        queries, gallery = self._split_views(results)
        if not queries or not gallery:
            raise RuntimeError(
                f'retrieval needs queries and gallery items, got {len(queries)} '
                f'captions and {len(gallery)} images'
            )
        q_feats = torch.stack([r['feat'] for r in queries])
        g_feats = torch.stack([r['feat'] for r in gallery])
        q_ids = torch.tensor([r['pid'] for r in queries])
        g_ids = torch.tensor([r['pid'] for r in gallery])
        metrics = rank_metrics_from_features(q_feats, g_feats, q_ids, g_ids, ks=self.ks)
        for name in self.named_features:
            qn = torch.stack([r['named'][name] for r in queries])
            gn = torch.stack([r['named'][name] for r in gallery])
            row = rank_metrics_from_features(qn, gn, q_ids, g_ids, ks=self.ks)
            metrics.update({f'{name}/{k}': v for k, v in row.items()})
        if self.ranking_file:
            self._dump_rankings(queries, gallery, q_feats, g_feats)
        return metrics

    def _dump_rankings(self, queries, gallery, q_feats, g_feats) -> None:
        k = min(self.ranking_topk, len(gallery))
        scores, indices = topk_indices(q_feats, g_feats, k)
        records = []
        for q, srow, irow in zip(queries, scores.tolist(), indices.tolist()):
            records.append(
                dict(
                    query=q['name'],
                    query_pid=q['pid'],
                    query_idx=q['idx'],
                    results=[
                        dict(img_path=gallery[j]['name'], pid=gallery[j]['pid'], score=round(s, 6))
                        for s, j in zip(srow, irow)
                    ],
                )
            )
        try:
            # A uniquely named temporary file, renamed into place, removed on failure.
            atomic_write_text(json.dumps(records), self.ranking_file)
        except OSError as err:
            # The metrics are worth more than the rankings: report and go on.
            print_log(
                f'could not write the rankings to {self.ranking_file} ({err}); '
                'the metrics are not affected',
                logger='current',
                level=logging.ERROR,
            )
            return
        print_log(
            f'per-query rankings of {len(records)} queries written to {self.ranking_file}',
            logger='current',
        )

    def evaluate(self, size: int) -> dict:
        """Gather, de-duplicate and score all results; same dict on every rank."""
        parts = all_gather_object(self.results) if get_world_size() > 1 else [self.results]

        def score():
            values = self.compute_metrics([item for part in parts for item in part])
            return [{f'{self.prefix}/{k}': v for k, v in values.items()}]

        try:
            (metrics,) = broadcast_from_rank0(score, 1, f'{type(self).__name__}: scoring')
        finally:
            self.results.clear()
        return metrics
