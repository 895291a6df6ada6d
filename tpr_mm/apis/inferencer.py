# Copyright (c) tpr_mm contributors. All rights reserved.
"""Embed captions and person images with a trained retriever; search a gallery."""

import copy
import os
import os.path as osp
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config, ConfigDict
from mmengine.dataset import Compose, pseudo_collate
from mmengine.infer import BaseInferencer
from mmengine.registry import init_default_scope
from torch.utils.data import DataLoader
from tqdm import tqdm

from tpr_mm.structures import TextReIDDataSample
from tpr_mm.visualization import RetrievalHit, RetrievalQuery, RetrievalVisualizer

from .gallery_index import GalleryIndex
from .inferencer_utils import (
    ItemDataset,
    build_retriever,
    config_digest,
    file_sha256,
    get_test_pipeline_cfg,
    prediction_to_dict,
    to_items,
)

VISUALIZER_NAME = 'tpr_mm_inferencer'


class TextImageInferencer(BaseInferencer):
    """MMEngine inferencer for text-to-image person retrieval.

    ``inferencer(inputs, return_datasamples=False, batch_size=1, **kwargs)``
    runs MMEngine's steps: :meth:`preprocess` (the config's **test pipeline**
    in a DataLoader), :meth:`forward` (the model's data preprocessor, the
    image or text tower, L2 normalisation, and with a ``gallery`` the top-k
    search), :meth:`visualize` (one :class:`RetrievalVisualizer` grid per
    query when ``show`` or ``show_dir``) and :meth:`postprocess`, so
    embeddings equal those of ``tools/test.py``. Inputs are captions (str) or
    image items ``dict(img_path=...)``, one kind per call. Keyword arguments:
    ``topk`` (forward); ``show``, ``wait_time``, ``show_dir``, ``draw_score``
    (visualize).

    It returns ``dict(predictions=..., visualization=...)``; a prediction is
    a dict ``embedding`` (D floats) plus, with a gallery, ``match_paths`` and
    ``match_scores`` best first, or with ``return_datasamples=True`` a
    :class:`TextReIDDataSample` with ``text_feat``/``img_feat`` (D,) and
    ``match_score`` (k,) / ``match_paths``.

    The constructor does what MMEngine's does (config, model, pipeline,
    collate function, visualizer), as MMPretrain's inferencers do, without
    calling it: MMEngine's ``_init_model`` loads weights non-strictly through
    a private loader, while a retrieval checkpoint must match the config
    exactly and is read with PyTorch's safe unpickler.

    Args:
        model (str | Config | dict): Config file or object with ``model`` and
            a test pipeline.
        weights (str, optional): MMEngine checkpoint (``state_dict`` plus
            ``meta``), loaded with strict key matching. None keeps the random
            initialisation (tests).
        device (str): ``'cpu'`` or a CUDA device such as ``'cuda:0'``.
        batch_size (int): Items per forward pass of :meth:`encode_images` /
            :meth:`encode_texts`. Defaults to 64.
        num_workers (int): DataLoader workers for image decoding.
        gallery (GalleryIndex, optional): Index that text queries search.
        scope (str): Default registry scope. Defaults to ``'tpr_mm'``.
        show_progress (bool): Progress bar in ``__call__``.
    """

    preprocess_kwargs: set = set()
    forward_kwargs: set = {'topk'}
    visualize_kwargs: set = {'show', 'wait_time', 'show_dir', 'draw_score'}
    postprocess_kwargs: set = set()

    def __init__(
        self,
        model: Union[str, Config, dict],
        weights: Optional[str] = None,
        device: str = 'cpu',
        batch_size: int = 64,
        num_workers: int = 0,
        gallery: Optional[GalleryIndex] = None,
        scope: str = 'tpr_mm',
        show_progress: bool = False,
    ) -> None:
        if isinstance(model, str):
            cfg = Config.fromfile(model)
        elif isinstance(model, (Config, dict)):
            cfg = (
                copy.deepcopy(model) if isinstance(model, Config) else Config(copy.deepcopy(model))
            )
        else:
            raise TypeError(f'model must be a config file, Config or dict, got {type(model)}')
        self.scope = cfg.get('default_scope', scope)
        init_default_scope(self.scope)
        self.cfg, self.checkpoint = cfg, weights
        self.device = torch.device(device)
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        self.gallery, self.show_progress = gallery, show_progress
        self._model_cfg = cfg.model.to_dict() if isinstance(cfg.model, ConfigDict) else cfg.model
        self.model = build_retriever(cfg.model, weights, self.device)
        self._pipeline_cfg = get_test_pipeline_cfg(cfg)
        self.pipeline = self._init_pipeline(cfg)
        self.collate_fn = pseudo_collate
        self.visualizer = RetrievalVisualizer.get_instance(VISUALIZER_NAME)
        self._fingerprint: Optional[dict] = None
        self._embed_dim: Optional[int] = None

    def _init_pipeline(self, cfg: Config) -> Compose:  # MMEngine's abstract hook
        return Compose(get_test_pipeline_cfg(cfg))

    def __call__(self, inputs, return_datasamples: bool = False, batch_size: int = 1, **kwargs):
        """Run the four steps on captions or image items (see the class)."""
        items = to_items(inputs)  # MMEngine would read a caption naming a folder as a path
        return super().__call__(items, return_datasamples, batch_size, **kwargs)

    def preprocess(self, inputs: List[dict], batch_size: int = 1, **kwargs):
        """Yield collated batches of pipeline outputs (``num_workers`` decode)."""
        yield from DataLoader(
            ItemDataset(inputs, self.pipeline),
            batch_size=batch_size,
            num_workers=self.num_workers,
            collate_fn=self.collate_fn,
        )

    @torch.no_grad()
    def forward(self, inputs: dict, topk: int = 10) -> List[TextReIDDataSample]:
        """Embed one batch; caption embeddings also search ``self.gallery`` for
        the ``topk`` best images (``topk=0``: embeddings only)."""
        data = self.model.data_preprocessor(inputs, False)
        samples = data['data_samples']
        if 'img' in data['inputs']:
            feats, field = self.model.extract_img_feat(data['inputs']['img']), 'img_feat'
        else:
            feats, field = self.model.extract_text_feat(data['inputs']['text']), 'text_feat'
        feats = F.normalize(feats.float(), dim=-1).cpu()
        for sample, feat in zip(samples, feats):
            sample.set_field(feat, field)
        if self.gallery is not None and field == 'text_feat' and topk > 0:
            for sample, hits in zip(samples, self.gallery.search_paths(feats.numpy(), topk)):
                sample.match_paths = [path for path, _ in hits]
                sample.match_score = torch.tensor([score for _, score in hits])
        return samples

    def visualize(
        self,
        inputs: List[dict],
        preds: List[TextReIDDataSample],
        show: bool = False,
        wait_time: float = 0,
        show_dir: Optional[str] = None,
        draw_score: bool = True,
    ) -> Optional[List[np.ndarray]]:
        """One grid per caption with gallery matches: shown and/or written to
        ``show_dir/<index>.png``. None unless ``show`` or ``show_dir``."""
        if not show and show_dir is None:
            return None
        if show_dir is not None:
            os.makedirs(show_dir, exist_ok=True)
        images = []
        for i, (item, pred) in enumerate(zip(inputs, preds)):
            if 'match_paths' not in pred:
                continue
            hits = [RetrievalHit(p, float(s)) for p, s in zip(pred.match_paths, pred.match_score)]
            out_file = osp.join(show_dir, f'{i}.png') if show_dir is not None else None
            images.append(
                self.visualizer.visualize_retrieval(
                    [RetrievalQuery(item['caption'], hits)],
                    draw_labels=draw_score,
                    caption_lines=4,
                    show=show,
                    wait_time=wait_time,
                    out_file=out_file,
                    name=f'query_{i}',
                )
            )
        return images

    def postprocess(self, preds, visualization, return_datasamples: bool = False) -> dict:
        """``dict(predictions, visualization)``; predictions as dicts unless
        ``return_datasamples``."""
        if not return_datasamples:
            preds = [prediction_to_dict(p) for p in preds]
        return dict(predictions=preds, visualization=visualization)

    @property
    def embed_dim(self) -> int:
        """Embedding dimension D (from the text tower on a dummy caption)."""
        if self._embed_dim is None:
            self._embed_dim = int(self.encode_texts(['a person']).shape[1])
        return self._embed_dim

    def fingerprint(self) -> dict:
        """Identity of what produces the embeddings: digests of the model and
        test-pipeline config sections, the checkpoint's sha256 and size, and
        the embedding dimension. Paths and mtimes are left out on purpose, so
        a copied checkpoint or a re-dumped config still matches."""
        if self._fingerprint is None:
            ckpt = None
            if self.checkpoint is not None:
                ckpt = dict(
                    sha256=file_sha256(self.checkpoint), size=os.path.getsize(self.checkpoint)
                )
            self._fingerprint = dict(
                model=config_digest(self._model_cfg),
                pipeline=config_digest(self._pipeline_cfg),
                checkpoint=ckpt,
                embed_dim=self.embed_dim,
            )
        return dict(self._fingerprint)

    def _encode(self, items: List[dict], batch_size: Optional[int], progress: bool) -> np.ndarray:
        field = 'img_feat' if items and 'img_path' in items[0] else 'text_feat'
        feats = []
        with tqdm(total=len(items), desc='encoding', disable=not progress) as bar:
            for batch in self.preprocess(items, batch_size or self.batch_size):
                feats += [s.get(field) for s in self.forward(batch, topk=0)]
                bar.update(len(batch['data_samples']))
        if not feats:
            return np.zeros((0, self.embed_dim), dtype=np.float32)
        return torch.stack(feats).numpy()

    def encode_images(
        self, paths: Sequence[str], batch_size: Optional[int] = None, progress: bool = False
    ) -> np.ndarray:
        """Embed image files (an unreadable one raises an ``OSError`` naming it).

        Returns:
            np.ndarray: (N, D) float32, unit L2 norm.
        """
        return self._encode(to_items([dict(img_path=str(p)) for p in paths]), batch_size, progress)

    def encode_texts(
        self, texts: Sequence[str], batch_size: Optional[int] = None, progress: bool = False
    ) -> np.ndarray:
        """Embed captions (tokenised by the pipeline's tokeniser).

        Returns:
            np.ndarray: (N, D) float32, unit L2 norm.
        """
        return self._encode(to_items(texts), batch_size, progress)
