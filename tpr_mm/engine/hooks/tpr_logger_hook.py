# Copyright (c) tpr_mm contributors. All rights reserved.
"""Logging whose test-metric file is written once, by rank 0."""

import json
import os.path as osp
from typing import Any, Dict, Optional

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import LoggerHook

from tpr_mm.fileio import atomic_write_text
from tpr_mm.registry import HOOKS


def json_friendly(value: Any) -> Any:
    """Turn a log tag value into something :func:`json.dumps` accepts.

    The same conversion as MMEngine's ``LoggerHook`` applies to its JSON logs:
    containers recursively, tensors and arrays as (nested) lists, JSON scalars
    unchanged, anything else ``None``. NumPy scalars become Python numbers
    (MMEngine writes ``null`` for e.g. ``np.float32``).

    Args:
        value: A tag value, e.g. the metrics dict from ``LogProcessor``.

    Returns:
        The converted value (tuples become lists).
    """
    if isinstance(value, (list, tuple)):
        return [json_friendly(item) for item in value]
    if isinstance(value, dict):
        return {key: json_friendly(item) for key, item in value.items()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)):
        return value.tolist()
    return None


@HOOKS.register_module()
class TPRLoggerHook(LoggerHook):
    """:class:`~mmengine.hooks.LoggerHook` that is safe under DDP testing.

    MMEngine 0.10.7 dumps the test metrics to ``<log_dir>/<timestamp>.json``
    from *every* rank, and all ranks share that path: two processes truncating
    and writing the same file can leave it unparsable (``{...}}``). Here only
    the main process writes it, atomically. Arguments and log lines are
    MMEngine's.
    """

    def after_test_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        tag, log_str = runner.log_processor.get_log_after_epoch(
            runner, len(runner.test_dataloader), 'test', with_non_scalar=True
        )
        runner.logger.info(log_str)
        if is_main_process():
            text = json.dumps(json_friendly(tag))
            atomic_write_text(text, osp.join(runner.log_dir, self.json_log_path))
