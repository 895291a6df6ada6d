# Copyright (c) tpr_mm contributors. All rights reserved.
"""A new run never overwrites the checkpoints of an earlier run in its folder."""

import hashlib
import os

import pytest

from tpr_mm.engine.hooks.tpr_checkpoint_hook import earlier_run_files


def _digests(folder):
    out = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, 'rb') as f:
                out[name] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_earlier_run_files_lists_only_checkpoint_names(tmp_path):
    for name in ('epoch_3.pth', 'iter_20.pth', 'best_t2i_R1_epoch_2.pth', 'last_checkpoint'):
        (tmp_path / name).write_text('x')
    for name in ('notes.txt', 'epoch_3.pth.tmp', 'my_epoch_1.pth', 'model.pth'):
        (tmp_path / name).write_text('user')
    found = [os.path.basename(p) for p in earlier_run_files(str(tmp_path), str(tmp_path))]
    assert found == ['best_t2i_R1_epoch_2.pth', 'epoch_3.pth', 'iter_20.pth', 'last_checkpoint']
    assert earlier_run_files(str(tmp_path / 'missing'), str(tmp_path / 'missing')) == []


@pytest.mark.slow  # five training launches
def test_second_run_into_a_used_work_dir_is_refused(tiny_cfg, tool, tmp_path):
    train = os.path.join(tool.root, 'tools', 'train.py')
    work = str(tmp_path / 'work')
    path = str(tmp_path / 'cfg.py')
    tiny_cfg(work, max_epochs=1).dump(path)
    first = tool([train, path, '--work-dir', work])
    assert first.returncode == 0, first.stderr[-3000:]
    before = _digests(work)
    assert 'epoch_1.pth' in before and 'last_checkpoint' in before

    again = tool([train, path, '--work-dir', work])
    assert again.returncode != 0
    err = again.stderr + again.stdout
    assert 'FileExistsError: refusing to start a new training run in' in err
    assert 'epoch_1.pth' in err and '--resume' in err and 'overwrite_existing=True' in err
    assert _digests(work) == before  # nothing of the earlier run was touched

    # --resume continues the earlier run (here: one more epoch)
    resumed = tool(
        [train, path, '--work-dir', work, '--resume', '--cfg-options'] + ['train_cfg.max_epochs=2']
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert os.path.isfile(os.path.join(work, 'epoch_2.pth'))
    # resuming a finished run (what a second `make demo` does) trains nothing and succeeds
    done = _digests(work)
    again = tool(
        [train, path, '--work-dir', work, '--resume', '--cfg-options'] + ['train_cfg.max_epochs=2']
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert _digests(work) == done

    # an explicit opt-in replaces them (MMEngine's behaviour)
    replaced = tool(
        [train, path, '--work-dir', work, '--cfg-options']
        + ['default_hooks.checkpoint.overwrite_existing=True']
    )
    assert replaced.returncode == 0, replaced.stderr[-3000:]
    with open(os.path.join(work, 'last_checkpoint')) as f:
        assert f.read().endswith('epoch_1.pth')
