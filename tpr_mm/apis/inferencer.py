# Copyright (c) tpr_mm contributors. All rights reserved.
"""Encode images and captions with a trained retriever outside the runner."""

import hashlib
import json
import os
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_state_dict
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from tpr_mm.fileio import CheckpointReadError, safe_torch_load
from tpr_mm.registry import MODELS


def _digest(obj) -> str:
    """sha256 of a config section, stable across key order and tuple/list."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def file_sha256(path: str, chunk: int = 1 << 22) -> str:
    """sha256 of a file's bytes, read in 4 MiB chunks."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            h.update(block)
    return h.hexdigest()


def get_test_pipeline_cfg(cfg: Config) -> list:
    """The test dataset's pipeline (unwrapping dataset wrappers), else
    ``cfg.test_pipeline``."""
    loader = cfg.get('test_dataloader') or {}
    dataset = loader.get('dataset') or {}
    while 'pipeline' not in dataset and isinstance(dataset.get('dataset'), dict):
        dataset = dataset['dataset']
    pipeline = dataset.get('pipeline') or cfg.get('test_pipeline')
    if not pipeline:
        raise KeyError(
            'the config has neither test_dataloader.dataset.pipeline nor '
            'test_pipeline; the inferencer needs one to load images and captions'
        )
    return [dict(t) for t in pipeline]


class _ItemDataset(Dataset):
    def __init__(self, items: List[dict], pipeline: Compose) -> None:
        self.items, self.pipeline = items, pipeline

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.pipeline(dict(self.items[i]))


class TextImageInferencer:
    """Load a retriever from a config and checkpoint; embed images and text.

    Images and captions go through the config's test pipeline (load, resize,
    tokenise, pack) and the model's data preprocessor, exactly as in
    ``tools/test.py``, so gallery embeddings computed here match evaluation.
    Outputs are L2-normalised float32 arrays, ready for inner-product search.

    Args:
        config (str | Config): Config file or object with ``model`` and a
            test pipeline.
        checkpoint (str, optional): MMEngine checkpoint (``state_dict`` plus
            ``meta``), loaded with PyTorch's safe unpickler and ``strict``
            key matching. None keeps the random initialisation (tests).
        device (str): ``'cpu'`` or a CUDA device such as ``'cuda:0'``.
        batch_size (int): Items per forward pass. Defaults to 64.
        num_workers (int): DataLoader workers for image decoding.
    """

    def __init__(
        self,
        config: Union[str, Config],
        checkpoint: Optional[str] = None,
        device: str = 'cpu',
        batch_size: int = 64,
        num_workers: int = 0,
    ) -> None:
        cfg = Config.fromfile(config) if isinstance(config, str) else config
        init_default_scope(cfg.get('default_scope', 'tpr_mm'))
        self.cfg = cfg
        self.config_path = config if isinstance(config, str) else None
        self.checkpoint = checkpoint
        self.device = torch.device(device)
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        model_cfg = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
        self._model_cfg = model_cfg
        self.model = MODELS.build(cfg.model)
        if checkpoint is not None:
            ckpt = safe_torch_load(checkpoint, map_location='cpu')  # weights_only=True
            state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
            if not isinstance(state, dict):
                raise CheckpointReadError(f'{checkpoint}: holds no state dict')
            state = {
                k[len('module.') :] if k.startswith('module.') else k: v for k, v in state.items()
            }
            load_state_dict(self.model, state, strict=True, logger='current')
        self.model.to(self.device).eval()
        self._pipeline_cfg = get_test_pipeline_cfg(cfg)
        self.pipeline = Compose(self._pipeline_cfg)
        self._fingerprint: Optional[dict] = None
        self._embed_dim: Optional[int] = None

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
                model=_digest(self._model_cfg),
                pipeline=_digest(self._pipeline_cfg),
                checkpoint=ckpt,
                embed_dim=self.embed_dim,
            )
        return dict(self._fingerprint)

    @torch.no_grad()
    def _encode(
        self, items: List[dict], modality: str, batch_size: Optional[int], progress: bool
    ) -> np.ndarray:
        loader = DataLoader(
            _ItemDataset(items, self.pipeline),
            batch_size=batch_size or self.batch_size,
            num_workers=self.num_workers,
            collate_fn=pseudo_collate,
        )
        feats = []
        bar = tqdm(
            total=len(items), desc=f'encoding {modality}s', unit=modality, disable=not progress
        )
        for batch in loader:
            data = self.model.data_preprocessor(batch, False)
            if modality == 'image':
                out = self.model.extract_img_feat(data['inputs']['img'])
            else:
                out = self.model.extract_text_feat(data['inputs']['text'])
            feats.append(F.normalize(out.float(), dim=-1).cpu())
            bar.update(len(batch['data_samples']))
        bar.close()
        if not feats:
            return np.zeros((0, self.embed_dim), dtype=np.float32)
        return torch.cat(feats).numpy()

    def encode_images(
        self, paths: Sequence[str], batch_size: Optional[int] = None, progress: bool = False
    ) -> np.ndarray:
        """Embed image files.

        Args:
            paths (Sequence[str]): Image files; an unreadable one raises an
                ``OSError`` that names it.
            batch_size (int, optional): Overrides the instance default.
            progress (bool): Show a tqdm progress bar.

        Returns:
            np.ndarray: (N, D) float32, unit L2 norm.
        """
        items = [dict(img_path=str(p), sample_idx=i) for i, p in enumerate(paths)]
        return self._encode(items, 'image', batch_size, progress)

    def encode_texts(
        self, texts: Sequence[str], batch_size: Optional[int] = None, progress: bool = False
    ) -> np.ndarray:
        """Embed captions (tokenised by the pipeline's ``TokenizeCaption``).

        Returns:
            np.ndarray: (N, D) float32, unit L2 norm.
        """
        if isinstance(texts, str):
            texts = [texts]
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f'query text {i} must be a non-empty string, got {text!r}')
        items = [dict(caption=t, sample_idx=i) for i, t in enumerate(texts)]
        return self._encode(items, 'text', batch_size, progress)
