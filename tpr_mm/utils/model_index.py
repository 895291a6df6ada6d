# Copyright (c) tpr_mm contributors. All rights reserved.
"""The model index: OpenMMLab-style metafiles listing every config with its published numbers.

``model-index.yml`` (repository root) imports ``configs/metafiles/<collection>.yml``; each
metafile has ``Collections`` (a method: architecture, paper, docs page) and ``Models`` (one per
config: training set, whether the architecture is the published one or an adaptation, and the
paper's text-to-image results on that benchmark).
"""

import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import yaml
from mmengine.logging import print_log

#: Metric names of the metafiles, in table order.
METRICS: Tuple[str, ...] = ('Rank-1', 'Rank-5', 'Rank-10', 'mAP', 'mINP')
KINDS = ('published', 'adaptation')
TRAINING_DATA = ('CUHK-PEDES', 'ICFG-PEDES', 'RSTPReid', 'Synthetic')
TASK = 'Text-to-Image Person Retrieval'


@dataclass
class ModelEntry:
    """One config of the model index.

    Attributes:
        name (str): Config stem, e.g. ``'clip_sdm_cuhk'``.
        collection (str): Its method (``In Collection``).
        config (str): Config path relative to the repository root.
        training_data (str): One of :data:`TRAINING_DATA`.
        kind (str): ``'published'`` architecture or ``'adaptation'``.
        architecture (list[str]): Components.
        published (dict): Paper's metrics on ``training_data`` (subset of :data:`METRICS`).
        metafile (str): The metafile that lists it.
    """

    name: str
    collection: str
    config: str
    training_data: str
    kind: str
    architecture: List[str]
    published: Dict[str, float] = field(default_factory=dict)
    metafile: str = ''


def _need(node: dict, key: str, where: str, types=str):
    if not isinstance(node, dict) or key not in node:
        raise ValueError(f'{where}: missing field {key!r}')
    value = node[key]
    if not isinstance(value, types):
        raise ValueError(f'{where}: field {key!r} must be {types}, got {value!r}')
    return value


def load_metafile(path: str) -> List[ModelEntry]:
    """Parse and check one metafile.

    Raises:
        ValueError: a missing or malformed field (named with file and model), a model whose
            collection is not defined in the same file, or a result on another dataset than the
            model's training data.
    """
    with open(path, encoding='utf-8') as f:
        data = yaml.safe_load(f) or {}
    collections = {
        _need(c, 'Name', f'{path}: Collections[{i}]')
        for i, c in enumerate(_need(data, 'Collections', path, list))
    }
    entries = []
    for i, model in enumerate(_need(data, 'Models', path, list)):
        name = _need(model, 'Name', f'{path}: Models[{i}]')
        where = f'{path}: model {name!r}'
        collection = _need(model, 'In Collection', where)
        if collection not in collections:
            raise ValueError(f'{where}: collection {collection!r} is not in Collections')
        meta = _need(model, 'Metadata', where, dict)
        data_name = _need(meta, 'Training Data', where)
        kind = _need(meta, 'Architecture Kind', where)
        if data_name not in TRAINING_DATA or kind not in KINDS:
            raise ValueError(
                f'{where}: Training Data must be one of {TRAINING_DATA} and Architecture Kind '
                f'one of {KINDS}; got {data_name!r}, {kind!r}'
            )
        published: Dict[str, float] = {}
        for result in model.get('Results') or []:
            if result.get('Dataset') != data_name or result.get('Task') != TASK:
                raise ValueError(f'{where}: a result must be {TASK!r} on {data_name!r}: {result}')
            metrics = _need(result, 'Metrics', where, dict)
            unknown = set(metrics) - set(METRICS)
            if unknown:
                raise ValueError(f'{where}: unknown metrics {sorted(unknown)}; use {METRICS}')
            published.update({k: float(v) for k, v in metrics.items()})
        if data_name == 'Synthetic' and published:
            raise ValueError(f'{where}: no paper reports the synthetic set; drop its Results')
        entries.append(
            ModelEntry(
                name=name,
                collection=collection,
                config=_need(model, 'Config', where),
                training_data=data_name,
                kind=kind,
                architecture=list(_need(meta, 'Architecture', where, list)),
                published=published,
                metafile=path,
            )
        )
    return entries


def load_model_index(path: str, strict: bool = False) -> Dict[str, ModelEntry]:
    """All models of ``model-index.yml``, by config stem.

    Args:
        path (str): ``model-index.yml``; its ``Import`` paths are relative to its folder.
        strict (bool): Raise on an imported metafile that does not exist (default: skip it
            with a warning, so a partial checkout still works).

    Returns:
        dict[str, ModelEntry]: ``{config stem: entry}``.

    Raises:
        FileNotFoundError: ``path`` (or, when strict, an import) does not exist.
        ValueError: a malformed metafile, or one config stem listed twice.
    """
    with open(path, encoding='utf-8') as f:
        index = yaml.safe_load(f) or {}
    root = osp.dirname(osp.abspath(path))
    models: Dict[str, ModelEntry] = {}
    for rel in _need(index, 'Import', path, list):
        metafile = osp.join(root, rel)
        if not osp.isfile(metafile):
            if strict:
                raise FileNotFoundError(f'{path}: imported metafile {rel} does not exist')
            print_log(f'{path}: skipping missing metafile {rel}', logger='current', level=30)
            continue
        for entry in load_metafile(metafile):
            if entry.name in models:
                raise ValueError(
                    f'{metafile}: model {entry.name!r} is already listed in '
                    f'{models[entry.name].metafile}'
                )
            models[entry.name] = entry
    return models


def imported_metafiles(path: str) -> List[str]:
    """The ``Import`` list of ``model-index.yml`` (relative paths, as written)."""
    with open(path, encoding='utf-8') as f:
        return list(_need(yaml.safe_load(f) or {}, 'Import', path, list))
