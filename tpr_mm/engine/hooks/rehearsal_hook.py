# Copyright (c) tpr_mm contributors. All rights reserved.
"""The rehearsal's measuring hook: wall time, peak memory and items/s per phase.

Used by :func:`tpr_mm.apis.rehearsal.run_rehearsal` (``tools/analysis/rehearse.py``).
"""

import copy
import json
import time
from typing import Dict, List, Optional

from mmengine.hooks import Hook
from tqdm import tqdm

from tpr_mm.registry import HOOKS


def peak_rss_gib(reset: bool = False) -> float:
    """Main-process resident high-water mark (``VmHWM``) in GiB; ``reset``
    starts a new high-water mark (Linux ``/proc/self/clear_refs``)."""
    with open('/proc/self/status') as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith('VmHWM:'))
    if reset:
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')
        except OSError:
            pass
    return kb / 2**20


@HOOKS.register_module()
class RehearsalHook(Hook):
    """Time each phase and record its peak memory and items per second.

    Phases: ``before_train_epoch`` (every hook's pre-epoch work, e.g. the
    CPCL clustering pass), ``train_epoch``, ``val`` and ``test``. Progress
    bars on the training epoch, validation and test.

    A rehearsal with iteration checkpoints survives interruption: the hook
    stores what it measured in every checkpoint (``checkpoint['rehearsal']``)
    and, on resume, continues the training phase's wall time and peak memory
    from the last checkpoint. The epoch's wall time is then the sum of its
    segments, each counted from its first trained batch to the checkpoint it
    ended with (work after the last checkpoint of an interrupted segment is
    trained again and counted once); the time the resumed run spends
    re-running the hooks and skipping the trained batches is its own phase.
    """

    priority = 'VERY_HIGH'

    def __init__(self, out_file: Optional[str] = None) -> None:
        self.out_file = out_file
        self.phases: List[Dict] = []
        self._t0 = 0.0
        self._bar = None
        self._training = False
        self._seg_start = 0  # first batch index of this process's training segment
        self._prev_wall = 0.0  # training wall of earlier segments (from a checkpoint)
        self._prev_peak = 0.0
        self._segments: List[Dict] = []
        self._seg_end = 0
        self._loaded: Optional[Dict] = None

    def _start(self) -> None:
        peak_rss_gib(reset=True)
        self._t0 = time.perf_counter()

    def _write(self) -> None:
        if self.out_file:  # after every phase: a run stopped later keeps what it measured
            with open(self.out_file, 'w') as f:
                json.dump({'phases': self.phases}, f, indent=2)

    def _stop(self, name: str, items: int, prev_wall: float = 0.0, prev_peak: float = 0.0):
        wall = time.perf_counter() - self._t0 + prev_wall
        row = dict(
            phase=name,
            wall_s=round(wall, 1),
            peak_rss_gib=round(max(peak_rss_gib(), prev_peak), 2),
            items=items,
            items_per_s=round(items / wall, 1) if wall > 0 else None,
        )
        self.phases.append(row)
        self._write()
        return row

    def _bar_open(self, total: int, desc: str, initial: int = 0) -> None:
        self._bar = tqdm(total=total, desc=desc, initial=initial, dynamic_ncols=True, leave=False)

    def _bar_close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if getattr(runner, '_resume', False):
            self._loaded = checkpoint.get('rehearsal')

    def _adopt(self) -> bool:
        """Continue from what the earlier segments measured (a mid-epoch resume)."""
        loaded, self._loaded = self._loaded, None
        if not loaded or 'train_wall_s' not in loaded:
            return False
        self.phases = list(loaded['phases']) + self.phases
        self._prev_wall = float(loaded['train_wall_s'])
        self._prev_peak = float(loaded['train_peak_rss_gib'])
        self._segments = list(loaded['segments'])
        return True

    def before_train_epoch(self, runner) -> None:
        self._start()  # VERY_HIGH: before PseudoLabelHook (NORMAL)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if self._training:
            return
        n = len(runner.train_dataloader.dataset)
        if batch_idx == 0 or not self._adopt():
            self._stop('before_train_epoch (hooks, e.g. clustering)', n)
        else:
            self._stop(f'resume: hooks + skipping {batch_idx} trained batches', n)
        self._training, self._seg_start = True, batch_idx
        self._start()
        self._bar_open(len(runner.train_dataloader), 'rehearsal: train epoch', batch_idx)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._bar.update(1)
        self._seg_end = batch_idx + 1

    def _segment(self) -> Dict:
        wall = time.perf_counter() - self._t0
        return dict(first_batch=self._seg_start, end_batch=self._seg_end, wall_s=round(wall, 1))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = dict(phases=self.phases, segments=self._segments)
        if self._training:
            seg = self._segment()
            state.update(
                segments=self._segments + [seg],
                train_wall_s=self._prev_wall + seg['wall_s'],
                train_peak_rss_gib=max(self._prev_peak, peak_rss_gib()),
            )
        checkpoint['rehearsal'] = copy.deepcopy(state)

    def after_train_epoch(self, runner) -> None:
        self._bar_close()
        if self._training:
            self._segments.append(self._segment())
        elif self._adopt():  # resumed from the epoch's last batch: nothing left to train
            self._start()
        n = len(runner.train_dataloader.dataset)
        row = self._stop('train_epoch', n, self._prev_wall, self._prev_peak)
        if len(self._segments) > 1:
            row['segments'] = self._segments
            self._write()
        self._training = False

    def before_val_epoch(self, runner) -> None:
        self._start()
        self._bar_open(len(runner.val_dataloader), 'rehearsal: validation')

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._bar.update(1)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._bar_close()
        self._stop('val', len(runner.val_dataloader.dataset))

    def before_test_epoch(self, runner) -> None:
        self._start()
        self._bar_open(len(runner.test_dataloader), 'rehearsal: test')

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._bar.update(1)

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._bar_close()
        self._stop('test', len(runner.test_dataloader.dataset))
