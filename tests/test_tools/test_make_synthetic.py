# Copyright (c) tpr_mm contributors. All rights reserved.
"""tools/dataset_converters/make_synthetic.py never replaces a folder it did not write."""

import pytest
from tool_helpers import load_tool

from tpr_mm.datasets.synthetic import synthetic_params_match

make_synthetic = load_tool('tools/dataset_converters/make_synthetic.py')
ARGS = ['--num-train-ids', '1', '--num-val-ids', '0', '--num-test-ids', '1']
ARGS += ['--images-per-id', '1', '--image-size', '32', '16']


@pytest.mark.parametrize('overwrite', [[], ['--overwrite']])
def test_refuses_a_user_folder_with_exit_status_1(overwrite, tmp_path, capsys):
    root = tmp_path / 'thesis'
    (root / 'ch1').mkdir(parents=True)
    (root / 'ch1' / 'draft.tex').write_text('precious')
    assert make_synthetic.main(['--out', str(root)] + ARGS + overwrite) == 1
    err = capsys.readouterr().err
    assert f"error: refusing to write the synthetic dataset into '{root}'" in err
    assert 'no synthetic_meta.json' in err
    assert (root / 'ch1' / 'draft.tex').read_text() == 'precious'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['thesis']


def test_writes_reuses_and_overwrites_its_own_set(tmp_path, capsys):
    root = tmp_path / 'syn'
    assert make_synthetic.main(['--out', str(root)] + ARGS) == 0
    assert 'total' in capsys.readouterr().out
    meta = (root / 'synthetic_meta.json').stat().st_mtime_ns
    assert make_synthetic.main(['--out', str(root)] + ARGS) == 0  # reused
    assert (root / 'synthetic_meta.json').stat().st_mtime_ns == meta
    (root / 'reid_raw.json').write_text('[]')
    assert make_synthetic.main(['--out', str(root), '--overwrite'] + ARGS) == 0
    assert (root / 'reid_raw.json').read_text() != '[]'
    assert synthetic_params_match(
        str(root),
        num_train_ids=1,
        num_val_ids=0,
        num_test_ids=1,
        images_per_id=1,
        image_size=(32, 16),
    )


def test_config_mode_writes_every_set_the_config_names(tmp_path, capsys):
    from mmengine.config import Config

    root = tmp_path / 'from_config'
    dataset = dict(type='SyntheticPEDES', data_root=str(root), split='train', image_size=(32, 16))
    dataset.update(num_train_ids=1, num_val_ids=0, num_test_ids=1, images_per_id=1)
    path = str(tmp_path / 'cfg.py')
    Config(dict(train_dataloader=dict(dataset=dataset))).dump(path)
    assert make_synthetic.main(['--config', path]) == 0
    assert f'synthetic set ready: {root}' in capsys.readouterr().out
    params = {k: v for k, v in dataset.items() if k not in ('type', 'data_root', 'split')}
    assert synthetic_params_match(str(root), **params)
