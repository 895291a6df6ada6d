# Copyright (c) tpr_mm contributors. All rights reserved.
"""Helpers of :class:`~tpr_mm.apis.TextImageInferencer`: its inputs and its identity."""

import hashlib
import json
from typing import List, Optional, Sequence, Union

import torch
from mmengine.config import Config
from mmengine.runner import load_state_dict
from torch.utils.data import Dataset

from tpr_mm.fileio import CheckpointReadError, safe_torch_load
from tpr_mm.registry import MODELS
from tpr_mm.structures import TextReIDDataSample

InputItem = Union[str, dict]


def config_digest(obj) -> str:
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


def build_retriever(model_cfg: dict, weights: Optional[str], device: torch.device):
    """The model from the registry in eval mode, ``weights`` loaded strictly.

    The checkpoint is read with PyTorch's safe unpickler (``weights_only``);
    a ``module.`` prefix (a DDP save) is dropped.
    """
    model = MODELS.build(model_cfg)
    if weights is not None:
        ckpt = safe_torch_load(weights, map_location='cpu')
        state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
        if not isinstance(state, dict):
            raise CheckpointReadError(f'{weights}: holds no state dict')
        state = {k[len('module.') :] if k.startswith('module.') else k: v for k, v in state.items()}
        load_state_dict(model, state, strict=True, logger='current')
    return model.to(device).eval()


def prediction_to_dict(sample: TextReIDDataSample) -> dict:
    """A JSON-serialisable prediction: ``embedding`` and any gallery matches."""
    feat = sample.get('text_feat', sample.get('img_feat'))
    out = dict(embedding=feat.tolist())
    if 'match_paths' in sample:
        out.update(match_paths=list(sample.match_paths), match_scores=sample.match_score.tolist())
    return out


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


def to_items(inputs: Union[InputItem, Sequence[InputItem]]) -> List[dict]:
    """Pipeline items for a caption, an image item or a list of one kind.

    A string is a caption (never a path: a caption may name a folder); an
    image is ``dict(img_path=...)``. Each item gets its ``sample_idx``.

    Raises:
        ValueError: naming the input that is an empty caption, neither kind,
            or of another kind than the first one.
    """
    if isinstance(inputs, (str, dict)):
        inputs = [inputs]
    items = []
    for i, x in enumerate(inputs):
        item = dict(caption=x) if isinstance(x, str) else dict(x) if isinstance(x, dict) else None
        if item is None or ('caption' in item) == ('img_path' in item):
            raise ValueError(f'input {i} must be a caption (str) or dict(img_path=...), got {x!r}')
        text = item.get('caption')
        if 'caption' in item and (not isinstance(text, str) or not text.strip()):
            raise ValueError(f'query text {i} must be a non-empty string, got {text!r}')
        if items and ('img_path' in item) != ('img_path' in items[0]):
            raise ValueError(
                f'input {i} mixes images and captions in one call; pass one kind at a time'
            )
        items.append(dict(item, sample_idx=i))
    return items


class ItemDataset(Dataset):
    """Pipeline items as a map-style dataset (so a DataLoader can decode in workers)."""

    def __init__(self, items: List[dict], pipeline) -> None:
        self.items, self.pipeline = items, pipeline

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.pipeline(dict(self.items[i]))
