# Copyright (c) tpr_mm contributors. All rights reserved.
import json

import pytest
from PIL import Image
from tool_helpers import load_tool

plot_curves = load_tool('tools/analysis/plot_curves.py')


def _write_run(work_dir, stamp, records):
    vis = work_dir / stamp / 'vis_data'
    vis.mkdir(parents=True)
    with open(vis / 'scalars.json', 'w') as f:
        for rec in records:
            f.write(json.dumps(rec) + '\n')
    (vis / f'{stamp}.json').write_text('ignored: same content as scalars.json\n')


def _train(step, loss):
    return {
        'lr': 1e-3,
        'loss': loss,
        'loss_sdm': loss * 0.75,
        'loss_id': loss * 0.25,
        'time': 0.3,
        'epoch': 1 + step // 5,
        'iter': step,
        'step': step,
    }


def _val(epoch, r1):
    return {'t2i/R1': r1, 't2i/R5': r1 + 20, 't2i/mAP': r1 - 5, 'time': 0.1, 'step': epoch}


@pytest.fixture
def work_dir(tmp_path):
    """A run to epoch 3, then a resumed run repeating epoch 3 and adding 4."""
    work = tmp_path / 'work'
    _write_run(
        work,
        '20240101_000000',
        [_train(s, 30.0 - s) for s in (1, 3, 5, 7, 9, 11, 13)]
        + [_val(2, 10.0)]
        + [{'pseudo/img_nmi': 0.5, 'epoch': 1, 'step': 0}],
    )
    _write_run(
        work,
        '20240102_000000',
        [_train(s, 20.0 - s) for s in (11, 13, 15, 17, 19)] + [_val(2, 11.0), _val(4, 30.0)],
    )
    return work


def test_load_scalars_merges_resumed_runs(work_dir):
    data = plot_curves.load_scalars(str(work_dir))
    loss = data['train']['loss']
    assert sorted(loss) == [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]
    assert loss[9] == 21.0 and loss[11] == 9.0  # the later run wins on repeated steps
    assert set(data['train']) >= {'loss', 'loss_sdm', 'loss_id', 'lr'}
    assert data['val']['t2i/R1'] == {2: 11.0, 4: 30.0}
    assert data['val']['pseudo/img_nmi'] == {0: 0.5}


def test_main_writes_a_png_with_one_panel_per_kind(work_dir, tmp_path, capsys):
    out = str(tmp_path / 'curves.png')
    plot_curves.main([str(work_dir), '--out', out])
    with Image.open(out) as img:
        assert img.size == (1200, 420)
    out3 = str(tmp_path / 'cmp.png')
    plot_curves.main(
        [
            str(work_dir),
            str(work_dir),
            '--labels',
            'a',
            'b',
            '--out',
            out3,
            '--extra',
            'lr',
            '--log-loss',
        ]
    )
    with Image.open(out3) as img:
        assert img.size == (1800, 420)
    assert 'wrote' in capsys.readouterr().out


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='scalars.json'):
        plot_curves.load_scalars(str(tmp_path))
    vis = tmp_path / 'run' / 'vis_data'
    vis.mkdir(parents=True)
    (vis / 'scalars.json').write_text('{"loss": 1, "iter": 1, "step": 1}\n{oops\n')
    with pytest.raises(ValueError, match='line 2'):
        plot_curves.load_scalars(str(tmp_path))
