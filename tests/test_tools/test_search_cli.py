# Copyright (c) tpr_mm contributors. All rights reserved.
"""tools/search.py end to end on a tiny image folder and a tiny model."""

import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from tool_helpers import ROOT, load_tool, write_person_images

from tpr_mm.apis import TextImageInferencer

search = load_tool('tools/search.py')
QUERY = 'a woman in a red jacket and black trousers'


def _parse_results(stdout):
    rows = [line.split() for line in stdout.splitlines() if line[:4].strip().isdigit()]
    return [(r[2], float(r[1])) for r in rows]


@pytest.fixture(scope='module')
def indexed(tiny_model, gallery, tmp_path_factory):
    """Index the gallery once through the real script (a subprocess)."""
    cfg, ckpt, _ = tiny_model
    index_dir = str(tmp_path_factory.mktemp('index'))
    proc = subprocess.run(
        [
            sys.executable,
            osp.join(ROOT, 'tools', 'search.py'),
            'index',
            '--config',
            cfg,
            '--checkpoint',
            ckpt,
            '--images',
            gallery[0],
            '--index-dir',
            index_dir,
            '--batch-size',
            '4',
        ],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert 'indexed 9 new image(s)' in proc.stdout
    return index_dir


def test_index_holds_every_image_with_the_model_fingerprint(indexed, gallery, tiny_model):
    with open(osp.join(indexed, 'index_meta.json')) as f:
        meta = json.load(f)
    assert meta['paths'] == gallery[1] and meta['factory'] == 'Flat'
    assert meta['fingerprint'] == TextImageInferencer(tiny_model[0], tiny_model[1]).fingerprint()


def test_query_ranks_by_cosine_and_draws_a_grid(indexed, gallery, tiny_model, tmp_path, capsys):
    cfg, ckpt, _ = tiny_model
    grid = str(tmp_path / 'grid.png')
    argv = [
        'query',
        '--index-dir',
        indexed,
        '--config',
        cfg,
        '--checkpoint',
        ckpt,
        QUERY,
        '-k',
        '4',
        '--grid',
        grid,
    ]
    assert search.main(argv) == 0
    results = _parse_results(capsys.readouterr().out)
    # naive reference: cosine of the query against every image, best first
    inf = TextImageInferencer(cfg, ckpt)
    sims = inf.encode_images(gallery[1]) @ inf.encode_texts([QUERY])[0]
    order = np.argsort(-sims, kind='stable')[:4]
    assert [p for p, _ in results] == [gallery[1][i] for i in order]
    np.testing.assert_allclose([s for _, s in results], sims[order], atol=1e-3)
    with Image.open(grid) as img:
        assert img.size[0] >= 4 * 48 and img.size[1] > 128


def test_append_encodes_only_new_images(indexed, gallery, tiny_model, tmp_path, capsys):
    cfg, ckpt, _ = tiny_model
    folder, index_dir = str(tmp_path / 'imgs'), str(tmp_path / 'index')
    shutil.copytree(gallery[0], folder)
    shutil.copytree(indexed, index_dir)
    with open(osp.join(index_dir, 'index_meta.json')) as f:
        meta = json.load(f)
    # the copied index points at the original files: re-point it to the copies
    meta['paths'] = [p.replace(gallery[0], folder) for p in meta['paths']]
    with open(osp.join(index_dir, 'index_meta.json'), 'w') as f:
        json.dump(meta, f)
    os.mkdir(osp.join(folder, 'new'))
    new = write_person_images(osp.join(folder, 'new'), 3, seed=7, size=(40, 18))
    calls = []
    encode = TextImageInferencer.encode_images

    def spy(self, paths, **kwargs):
        calls.append(list(paths))
        return encode(self, paths, **kwargs)

    TextImageInferencer.encode_images = spy
    try:
        argv = [
            'index',
            '--config',
            cfg,
            '--checkpoint',
            ckpt,
            '--images',
            folder,
            '--index-dir',
            index_dir,
            '--append',
        ]
        assert search.main(argv) == 0
    finally:
        TextImageInferencer.encode_images = encode
    assert 'indexed 3 new image(s)' in capsys.readouterr().out
    assert calls == [sorted(new)]
    with open(osp.join(index_dir, 'index_meta.json')) as f:
        paths = json.load(f)['paths']
    assert paths == meta['paths'] + sorted(new)
    # a new image is its own nearest neighbour in the grown index
    from tpr_mm.apis import GalleryIndex

    index = GalleryIndex.load(index_dir)
    feats = TextImageInferencer(cfg, ckpt).encode_images(new[:1])
    assert index.search_paths(feats, 1)[0][0][0] == new[0]


def test_other_checkpoint_is_refused(indexed, gallery, tiny_model, capsys):
    cfg, _, other = tiny_model
    argv = ['query', '--index-dir', indexed, '--config', cfg, '--checkpoint', other, QUERY]
    assert search.main(argv) == 2
    err = capsys.readouterr().err
    assert 'different model' in err and 'checkpoint' in err
    argv = [
        'index',
        '--config',
        cfg,
        '--checkpoint',
        other,
        '--images',
        gallery[0],
        '--index-dir',
        indexed,
        '--append',
    ]
    assert search.main(argv) == 2


def test_ivfpq_index_type(gallery, tiny_model, tmp_path, capsys):
    cfg, ckpt, _ = tiny_model
    index_dir = str(tmp_path / 'ivfpq')
    argv = [
        'index',
        '--config',
        cfg,
        '--checkpoint',
        ckpt,
        '--images',
        gallery[0],
        '--index-dir',
        index_dir,
        '--index-type',
        'ivfpq',
    ]
    assert search.main(argv) == 0
    assert 'IVF1,PQ8x3,RFlat' in capsys.readouterr().out
    argv = [
        'query',
        '--index-dir',
        index_dir,
        '--config',
        cfg,
        '--checkpoint',
        ckpt,
        QUERY,
        '-k',
        '20',
    ]
    assert search.main(argv) == 0
    assert sorted(p for p, _ in _parse_results(capsys.readouterr().out)) == gallery[1]


def test_query_on_a_damaged_index_names_the_file_and_field(indexed, tiny_model, tmp_path, capsys):
    cfg, ckpt, _ = tiny_model
    index_dir = str(tmp_path / 'index')
    shutil.copytree(indexed, index_dir)
    meta_path = osp.join(index_dir, 'index_meta.json')
    with open(meta_path) as f:
        meta = json.load(f)
    del meta['nprobe']
    with open(meta_path, 'w') as f:
        json.dump(meta, f)
    argv = ['query', '--index-dir', index_dir, '--config', cfg, '--checkpoint', ckpt, QUERY]
    assert search.main(argv) == 2
    err = capsys.readouterr().err
    assert f"error: {meta_path}: field 'nprobe' is missing" in err and 'Traceback' not in err


def test_an_unreadable_image_is_named_and_the_index_is_kept(
    indexed, gallery, tiny_model, tmp_path, capsys
):
    cfg, ckpt, _ = tiny_model
    images, index_dir = str(tmp_path / 'images'), str(tmp_path / 'index')
    shutil.copytree(gallery[0], images)
    shutil.copytree(indexed, index_dir)
    before = {n: open(osp.join(index_dir, n), 'rb').read() for n in os.listdir(index_dir)}
    bad = osp.join(images, 'zz_empty.jpg')
    open(bad, 'wb').close()
    argv = ['index', '--config', cfg, '--checkpoint', ckpt, '--images', images]
    assert search.main(argv + ['--index-dir', index_dir, '--append']) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith('error: ')]
    assert len(errors) == 1 and 'zz_empty.jpg' in errors[0] and 'Traceback' not in err
    after = {n: open(osp.join(index_dir, n), 'rb').read() for n in os.listdir(index_dir)}
    assert after == before


def test_an_append_racing_another_save_is_refused_and_loses_nothing(
    indexed, gallery, tiny_model, tmp_path, capsys, monkeypatch
):
    """Another process saves the index while this append encodes: the append stops with
    exit status 2 instead of dropping the other save's images; run again, it appends."""
    from tpr_mm.apis import GalleryIndex

    cfg, ckpt, _ = tiny_model
    images, index_dir = str(tmp_path / 'images'), str(tmp_path / 'index')
    shutil.copytree(gallery[0], images)
    shutil.copytree(indexed, index_dir)
    os.mkdir(osp.join(images, 'new'))
    new = write_person_images(osp.join(images, 'new'), 2, seed=11, size=(40, 18))
    encode = TextImageInferencer.encode_images
    raced = []

    def encode_while_another_process_saves(self, paths, **kwargs):
        feats = encode(self, paths, **kwargs)
        if not raced:  # the other appender: its own load, add and save
            other = GalleryIndex.load(index_dir)
            other.add(feats[:1], ['/elsewhere/other.png']).save(index_dir)
            raced.append(True)
        return feats

    monkeypatch.setattr(TextImageInferencer, 'encode_images', encode_while_another_process_saves)
    argv = ['index', '--config', cfg, '--checkpoint', ckpt, '--images', images]
    argv += ['--index-dir', index_dir, '--append']
    assert search.main(argv) == 2
    err = capsys.readouterr().err
    assert 'error: ' in err and 'another process saved this gallery index' in err
    assert GalleryIndex.load(index_dir).paths[-1] == '/elsewhere/other.png'  # kept

    assert search.main(argv) == 0  # loads the new index and appends to it
    paths = GalleryIndex.load(index_dir).paths
    assert '/elsewhere/other.png' in paths and sorted(new) == paths[-2:]
