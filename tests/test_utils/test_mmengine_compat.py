# Copyright (c) tpr_mm contributors. All rights reserved.
"""The compatibility module: version gate, and no global side effects."""

from pathlib import Path

import mmengine
import pytest
from mmengine.fileio import get_file_backend
from mmengine.logging import HistoryBuffer, MessageHub, MMLogger

from tpr_mm.utils import mmengine_compat
from tpr_mm.utils.mmengine_compat import (
    TESTED_MMENGINE,
    check_mmengine_version,
    history_buffer_statistics,
)


def test_installed_mmengine_is_in_the_tested_range():
    check_mmengine_version()  # the import already ran it; must not raise
    assert TESTED_MMENGINE[0] <= mmengine.__version__


@pytest.mark.parametrize('version', ['0.9.1', '0.10.6', '0.11.0', '1.0.0'])
def test_untested_mmengine_is_a_clear_error(version):
    with pytest.raises(
        RuntimeError, match=rf'mmengine {version} is installed.*mmengine>=0\.10\.7,<0\.11'
    ):
        check_mmengine_version(version)


def test_history_buffer_statistics_include_registered_methods():
    assert {'min', 'max', 'mean', 'current'} <= history_buffer_statistics()

    def spread(self):  # a user-registered statistic, as MMEngine's docs show
        return 0.0

    HistoryBuffer.register_statistics(spread)
    try:
        assert 'spread' in history_buffer_statistics()
    finally:
        HistoryBuffer._statistics_methods.pop('spread')  # test clean-up only


class _Runner:
    """Just what CheckpointHook._save_best_checkpoint uses."""

    def __init__(self, work_dir, epoch):
        self.work_dir, self.epoch, self.iter = str(work_dir), epoch, epoch * 10
        self.message_hub = MessageHub.get_instance(f'compat-test-{work_dir}')
        self.logger = MMLogger.get_current_instance()
        self.seen = []

    def save_checkpoint(self, out_dir, filename, *args, **kwargs):
        # What is on disk while the new best is being written.
        self.seen.append(sorted(p.name for p in Path(out_dir).iterdir()))
        (Path(out_dir) / filename).write_bytes(b'new')


def test_previous_best_is_removed_only_after_the_new_one_exists(tmp_path):
    backend = get_file_backend(str(tmp_path))
    hook = mmengine_compat.SaveBeforeRemoveCheckpointHook(
        interval=1, save_best='acc', rule='greater'
    )
    hook.out_dir, hook.file_backend, hook.best_ckpt_path = str(tmp_path), backend, None
    runner = _Runner(tmp_path, epoch=1)
    hook._save_best_checkpoint(runner, {'acc': 0.5})
    assert sorted(p.name for p in tmp_path.iterdir()) == ['best_acc_epoch_1.pth']
    runner.epoch = 2
    hook._save_best_checkpoint(runner, {'acc': 0.7})
    # MMEngine deletes the old best first; here it is still there during the save ...
    assert runner.seen[-1] == ['best_acc_epoch_1.pth']
    # ... and gone afterwards, with the shared (cached) backend never patched.
    assert sorted(p.name for p in tmp_path.iterdir()) == ['best_acc_epoch_2.pth']
    assert hook.file_backend is backend and 'remove' not in vars(backend)
