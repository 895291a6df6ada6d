# Copyright (c) tpr_mm contributors. All rights reserved.
"""tools/analysis/visualize_retrieval.py on a fake rankings file."""

import json

import pytest
from PIL import Image
from tool_helpers import load_tool, write_person_images

vis = load_tool('tools/analysis/visualize_retrieval.py')


def test_true_matches_framed_green_others_red(tmp_path, monkeypatch):
    images = write_person_images(str(tmp_path), 10, seed=0)
    records = [
        dict(
            query=f'caption {q}: a person in a red jacket',
            query_pid=q,
            query_idx=q,
            results=[dict(img_path=p, pid=i % 3, score=1 - i / 10) for i, p in enumerate(images)],
        )
        for q in range(3)
    ]
    rankings = tmp_path / 'rankings.json'
    rankings.write_text(json.dumps(records))
    out = str(tmp_path / 'grid.png')
    monkeypatch.setattr('sys.argv', ['x', str(rankings), '--out', out, '--queries', '0', '2'])
    vis.main()
    with Image.open(out) as img:
        canvas = img.convert('RGB')
    row_h = 14 * 3 + vis.THUMB_H + 2 * vis.FRAME + vis.PAD
    step = vis.THUMB_W + 2 * vis.FRAME + vis.PAD
    assert canvas.size[1] == vis.PAD + 2 * row_h
    for row, query_pid in enumerate((0, 2)):
        top = vis.PAD + row * row_h + 14 * 3
        for col in range(10):
            frame = canvas.getpixel((vis.PAD + col * step + 1, top + 1))
            expected = (0, 170, 0) if col % 3 == query_pid else (220, 0, 0)
            assert frame == expected, (row, col, frame)


def _run(monkeypatch, tmp_path, content, *extra):
    rankings = tmp_path / 'rankings.json'
    rankings.write_text(content)
    argv = ['x', str(rankings), '--out', str(tmp_path / 'grid.png'), *extra]
    monkeypatch.setattr('sys.argv', argv)
    with pytest.raises(SystemExit) as err:
        vis.main()
    assert not (tmp_path / 'grid.png').exists()
    return str(err.value), str(rankings)


def test_bad_rankings_are_named(tmp_path, monkeypatch):
    record = dict(query='a', query_pid=1, query_idx=7, results=[dict(img_path='x.png', score=1)])
    message, path = _run(monkeypatch, tmp_path, json.dumps([record]))
    assert (
        message
        == f"{path}: record 7: field 'pid' missing; not a rankings file of tools/test.py --out?"
    )
    message, path = _run(monkeypatch, tmp_path, '{"query": 1}')
    assert message == f'{path}: expected a JSON list of queries, got dict'
    message, path = _run(monkeypatch, tmp_path, '[1, 2')
    assert message.startswith(f'{path}: cannot read the rankings (')
    message, path = _run(monkeypatch, tmp_path, json.dumps([record]), '--queries', '0', '3')
    assert message == f'--queries [3]: {path} holds 1 queries (0..0)'
