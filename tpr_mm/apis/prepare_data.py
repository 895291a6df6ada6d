# Copyright (c) tpr_mm contributors. All rights reserved.
"""The prepare step: write the generated datasets a config names, before any is built.

Datasets only read their files. The synthetic sets (``SyntheticPEDES``) are
written here, once, by rank 0, while the other ranks wait; ``tools/train.py``,
``tools/test.py`` (hence ``make demo``) and the test helpers call
:func:`prepare_data` after building the runner (which starts the process
group) and before training or testing builds the datasets.
"""

from typing import Dict, List, Tuple

from mmengine.config import Config
from mmengine.dist import broadcast_object_list, get_dist_info
from mmengine.logging import print_log

from tpr_mm.datasets.synthetic import generate_synthetic_pedes, synthetic_params_match
from tpr_mm.datasets.synthetic_pedes import SyntheticPEDES, synthetic_generator_params

__all__ = ['prepare_data', 'synthetic_sets']


def _is_synthetic(kind) -> bool:
    if isinstance(kind, str):  # 'SyntheticPEDES' or a scoped 'tpr_mm.SyntheticPEDES'
        return kind.split('.')[-1] == SyntheticPEDES.__name__
    return isinstance(kind, type) and issubclass(kind, SyntheticPEDES)


def _walk(node, found: List[dict]) -> None:
    if isinstance(node, dict):
        if _is_synthetic(node.get('type')):
            found.append(node)
        for value in node.values():
            _walk(value, found)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _walk(value, found)


def synthetic_sets(cfg) -> List[Tuple[str, dict]]:
    """Every distinct synthetic set a config builds, as ``(data_root, generator params)``.

    Dataset configs anywhere in ``cfg`` count: the dataloaders, wrappers such
    as ``SupportSetDataset`` and hooks with their own dataloader.

    Args:
        cfg (Config | dict): A run config.

    Returns:
        list[tuple[str, dict]]: In the order found, each folder once.

    Raises:
        ValueError: two dataset configs give one folder different parameters
            (one set would overwrite the other).
    """
    found: List[dict] = []
    _walk(cfg.to_dict() if isinstance(cfg, Config) else cfg, found)
    sets: Dict[str, dict] = {}
    for dataset in found:
        if 'data_root' not in dataset:
            raise ValueError(f'a SyntheticPEDES dataset config has no data_root: {dataset}')
        root, params = dataset['data_root'], synthetic_generator_params(dataset)
        if sets.setdefault(root, params) != params:
            raise ValueError(
                f'two SyntheticPEDES configs write {root!r} with different parameters: '
                f'{sets[root]} and {params}; give each set its own data_root'
            )
    return list(sets.items())


def prepare_data(cfg) -> List[str]:
    """Write (or reuse) every synthetic set of ``cfg`` on rank 0; the other ranks wait.

    A set that already matches its parameters is reused; a folder that the
    generator did not write is never replaced
    (:mod:`tpr_mm.datasets.synthetic.ownership`). A failure on rank 0 is sent
    to every rank, so that none waits for ever: rank 0 raises the error
    itself, the others a ``RuntimeError`` quoting it.

    Args:
        cfg (Config | dict): A run config. Call it with the process group
            started (after building the runner) in a distributed run.

    Returns:
        list[str]: The data roots of the prepared sets.
    """
    sets = synthetic_sets(cfg)
    if not sets:
        return []
    rank, _ = get_dist_info()
    failure = [None]
    if rank == 0:
        current = None
        try:
            for current, params in sets:
                if synthetic_params_match(current, **params):
                    continue
                print_log(f'generating the synthetic dataset in {current} ...', logger='current')
                stats = generate_synthetic_pedes(current, **params)
                print_log(f'synthetic dataset ready: {stats}', logger='current')
        except Exception as err:
            # Tell the other ranks before raising, so that none waits for ever.
            broadcast_object_list([(current, f'{type(err).__name__}: {err}')], src=0)
            raise
    broadcast_object_list(failure, src=0)  # also the barrier after generation
    if failure[0] is not None:
        root, message = failure[0]
        raise RuntimeError(f'SyntheticPEDES: rank 0 could not prepare {root!r}: {message}')
    return [root for root, _ in sets]
