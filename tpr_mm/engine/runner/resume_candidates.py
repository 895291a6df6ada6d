# Copyright (c) tpr_mm contributors. All rights reserved.
"""Which checkpoint ``--resume`` (auto) falls back to when the newest cannot be read."""

import os
import os.path as osp
import re
from typing import List

__all__ = ['resume_candidates']

# What TPRCheckpointHook writes (MMEngine's default filename_tmpl). best_*.pth
# files are left out: they can be older than the newest epoch checkpoint.
_CKPT_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def resume_candidates(named: str, work_dir: str) -> List[str]:
    """Checkpoints to try for an automatic resume, the most recent first.

    Args:
        named (str): What ``last_checkpoint`` names (may be empty, missing or
            damaged); it comes first when non-empty.
        work_dir (str): Searched when ``named`` is empty; otherwise the folder
            of ``named`` is searched (the checkpoint hook's ``out_dir``).

    Returns:
        list[str]: ``named`` (when given), then every ``epoch_<n>.pth`` /
        ``iter_<n>.pth`` of that folder from the newest (modification time,
        then number) to the oldest.
    """
    folder = osp.dirname(named) if named else work_dir
    found = []
    if osp.isdir(folder):
        for name in os.listdir(folder):
            match = _CKPT_NAME.match(name)
            path = osp.join(folder, name)
            if match and osp.isfile(path) and path != named:
                found.append((osp.getmtime(path), int(match.group(2)), path))
    found.sort(reverse=True)
    return ([named] if named else []) + [path for _, _, path in found]
