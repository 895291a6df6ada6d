# Copyright (c) tpr_mm contributors. All rights reserved.
"""Logging whose test-metric file is written once, by rank 0."""

import json
import os.path as osp
from typing import Dict, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import LoggerHook

from tpr_mm.fileio import atomic_write_text
from tpr_mm.registry import HOOKS


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
            text = json.dumps(self._process_tags(tag))
            atomic_write_text(text, osp.join(runner.log_dir, self.json_log_path))
