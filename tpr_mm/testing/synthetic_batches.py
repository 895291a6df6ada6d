# Copyright (c) tpr_mm contributors. All rights reserved.
"""Real-size models with random weights and an in-memory training set of real shapes.

For checks that must run a leaf config's model and training pipeline at real
size without weights or a dataset on disk (``tools/analysis/gpu_check.py``):

* :func:`strip_pretrained` builds every tower randomly initialised (BERT as
  ``BertConfig()`` defaults, i.e. BERT-base);
* :class:`InMemoryPairs` is a ``modality='pair'`` training split of CUHK-PEDES's
  counts whose items run the config's own train pipeline, except that the
  image comes from memory (random pixels at a typical crop size) instead of a
  JPEG file. Captions are random person descriptions tokenised by the
  config's tokenizer; a BERT tokenizer gets a stand-in vocabulary file
  (:func:`write_standin_bert_vocab`), since the real one is not available
  offline.
"""

import copy
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
from mmengine.dataset import Compose
from torch.utils.data import Dataset

from tpr_mm.registry import DATASETS, TRANSFORMS

# CUHK-PEDES training split: 11,003 identities, 34,054 images, 68,126 captions.
CUHK_TRAIN = dict(num_pairs=68126, num_images=34054, num_ids=11003)
WORDS = (
    'a man woman person wearing black white red blue green grey dark light long short sleeve '
    'shirt t-shirt jacket coat pants jeans trousers skirt dress shoes sneakers boots bag '
    'backpack holding carrying walking hair glasses hat with and the of in on his her is '
    'striped checked brown yellow pink purple belt scarf phone umbrella stands looks'
).split()
BERT_SPECIALS = ['[PAD]'] + [f'[unused{i}]' for i in range(99)] + ['[UNK]', '[CLS]', '[SEP]']


def strip_pretrained(cfg) -> None:
    """In place: no weight files; BERT towers get a BERT-base ``BertConfig()``.

    Every ``pretrained`` / ``checkpoint`` / ``teacher_checkpoint`` string
    becomes None (the caller sets a teacher checkpoint it made itself).
    """
    if isinstance(cfg, dict):
        if cfg.get('type') == 'HFBertBackbone' and isinstance(cfg.get('pretrained'), str):
            cfg['config'] = cfg.get('config') or {}  # BertConfig() defaults: BERT-base
        for key, value in cfg.items():
            if key in ('pretrained', 'teacher_checkpoint', 'checkpoint') and isinstance(value, str):
                cfg[key] = None
            else:
                strip_pretrained(value)
    elif isinstance(cfg, (list, tuple)):
        for item in cfg:
            strip_pretrained(item)


def write_standin_bert_vocab(path: str) -> str:
    """Write a WordPiece ``vocab.txt`` covering :data:`WORDS` (ids < 30,522)."""
    tokens = BERT_SPECIALS + ['[MASK]'] + sorted(set(WORDS)) + list('abcdefghijklmnopqrstuvwxyz-')
    with open(path, 'w') as f:
        f.write('\n'.join(dict.fromkeys(tokens)) + '\n')
    return path


class MemoryPersonImage:
    """Stands in for ``LoadPersonImage``: random pixels keyed by ``image_id``.

    Sizes vary around CUHK-PEDES's crops (height 180–420, width 70–170);
    items without ``img_path`` (captions) pass through like the real loader.
    """

    def __call__(self, results: dict) -> dict:
        if results.get('img_path') is None:
            return results
        rng = np.random.default_rng(int(results['image_id']))
        h, w = int(rng.integers(180, 421)), int(rng.integers(70, 171))
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        results['img'] = img
        results['ori_shape'] = img.shape[:2]
        return results


def build_memory_pipeline(pipeline: Sequence[dict], bert_vocab: Optional[str]) -> Compose:
    """The config's pipeline with the file loader replaced (and BERT's vocab)."""
    steps = []
    for t in pipeline:
        t = copy.deepcopy(dict(t))
        if t['type'] == 'LoadPersonImage':
            steps.append(MemoryPersonImage())
            continue
        if t['type'] == 'BertTokenizeCaption':
            if bert_vocab is None:
                raise ValueError('a BertTokenizeCaption pipeline needs bert_vocab')
            t['vocab'] = bert_vocab
        steps.append(TRANSFORMS.build(t))
    return Compose(steps)


class InMemoryPairs(Dataset):
    """A ``modality='pair'`` training split held in memory (two captions per image).

    Args:
        pipeline (Sequence[dict]): The config's training pipeline.
        num_pairs (int): Items (captions). Defaults to CUHK-PEDES's 68,126.
        num_images (int): Images. Defaults to 34,054.
        num_ids (int): Identities (0..num_ids-1). Defaults to 11,003.
        identity (str): ``'keep'`` or ``'drop'`` (pid -1, weak supervision).
        bert_vocab (str, optional): Vocabulary for ``BertTokenizeCaption``.
    """

    def __init__(
        self,
        pipeline: Sequence[dict],
        num_pairs: int = CUHK_TRAIN['num_pairs'],
        num_images: int = CUHK_TRAIN['num_images'],
        num_ids: int = CUHK_TRAIN['num_ids'],
        identity: str = 'keep',
        bert_vocab: Optional[str] = None,
    ) -> None:
        if identity not in ('keep', 'drop'):
            raise ValueError(f"identity must be 'keep' or 'drop', got {identity!r}")
        self.num_pairs, self.num_images, self.num_ids = num_pairs, num_images, num_ids
        self.identity = identity
        self.pipeline = build_memory_pipeline(pipeline, bert_vocab)
        self.metainfo = dict(num_ids=num_ids)

    def __len__(self) -> int:
        return self.num_pairs

    def true_pid(self, idx: int) -> int:
        image_id = idx * self.num_images // self.num_pairs
        return image_id * self.num_ids // self.num_images

    @property
    def pids(self) -> np.ndarray:
        if self.identity == 'drop':
            return np.full(self.num_pairs, -1, dtype=np.int64)
        return np.array([self.true_pid(i) for i in range(self.num_pairs)], dtype=np.int64)

    def caption(self, idx: int) -> str:
        rng = np.random.default_rng(1_000_003 + idx)
        return ' '.join(rng.choice(WORDS, size=int(rng.integers(12, 51))))

    def get_data_info(self, idx: int) -> dict:
        image_id = idx * self.num_images // self.num_pairs
        return dict(
            pid=self.true_pid(idx) if self.identity == 'keep' else -1,
            raw_id=self.true_pid(idx),
            image_id=image_id,
            caption_id=idx,
            img_path=f'memory://{image_id}',
            caption=self.caption(idx),
            sample_idx=idx,
            modality='pair',
        )

    def __getitem__(self, idx: int) -> dict:
        return self.pipeline(self.get_data_info(idx))


def build_train_dataset(cfg, bert_vocab: Optional[str] = None, **sizes) -> Dataset:
    """The config's training dataset over :class:`InMemoryPairs`.

    A ``SupportSetDataset`` wrapper (LCR²S) is kept and wraps the in-memory
    split; ``identity`` of the inner dataset is honoured.
    """
    ds = copy.deepcopy(cfg.train_dataloader.dataset)
    inner = ds.get('dataset', ds) if ds['type'] == 'SupportSetDataset' else ds
    if inner.get('type') not in ('CUHKPEDES', 'ICFGPEDES', 'RSTPReid', 'SyntheticPEDES'):
        raise ValueError(f'unsupported training dataset {inner.get("type")!r}')
    pairs = InMemoryPairs(
        inner['pipeline'], identity=inner.get('identity', 'keep'), bert_vocab=bert_vocab, **sizes
    )
    if ds['type'] != 'SupportSetDataset':
        return pairs
    kwargs = {k: v for k, v in ds.items() if k not in ('type', 'dataset')}
    return DATASETS.build(dict(type='SupportSetDataset', dataset=pairs, **kwargs))


def needs_bert_vocab(cfg) -> bool:
    """Whether the training pipeline tokenises with ``BertTokenizeCaption``."""
    ds = cfg.train_dataloader.dataset
    inner = ds.get('dataset', ds)
    return any(t['type'] == 'BertTokenizeCaption' for t in inner.get('pipeline', []))


def shrink_pipeline_in_place(cfg, img_size=(32, 16), context_length: int = 24) -> None:
    """Tiny images and captions in the training pipeline (CPU smoke runs)."""
    ds = cfg.train_dataloader.dataset
    inner = ds.get('dataset', ds)
    for t in inner['pipeline']:
        if t['type'] == 'Resize':
            t['scale'] = (img_size[1], img_size[0])  # MMCV's Resize takes (w, h)
        elif t['type'] in ('TokenizeCaption', 'BertTokenizeCaption'):
            t['context_length'] = context_length
        elif t['type'] == 'PadRandomCrop':
            t['padding'] = 2


def sample_indices(n: int, batch_size: int, num_batches: int, seed: int = 0) -> List[List[int]]:
    """Random batches of distinct item indices (a shuffled epoch's slice)."""
    order = np.random.default_rng(seed).permutation(n)
    return [
        order[i * batch_size : (i + 1) * batch_size].tolist()
        for i in range(num_batches)
        if (i + 1) * batch_size <= n
    ]


def config_path(root: str, name: str) -> str:
    """``configs/<name>.py`` under the repository root."""
    return osp.join(root, 'configs', f'{name}.py')
