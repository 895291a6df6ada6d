# Copyright (c) tpr_mm contributors. All rights reserved.
"""tools/serve.py: the JSON API, and the page driven by headless Chromium."""

import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image
from tool_helpers import ROOT

from tpr_mm.apis import TextImageInferencer, index_image_folder

QUERY = 'a man in a blue shirt with a backpack'
BROWSERS = ('chromium', 'chromium-browser', 'google-chrome')


@pytest.fixture(scope='module')
def server(tiny_model, gallery, tmp_path_factory):
    """The real script on a free port; yields (base URL, index dir)."""
    cfg, ckpt, _ = tiny_model
    index_dir = str(tmp_path_factory.mktemp('serve_index'))
    index_image_folder(TextImageInferencer(cfg, ckpt), gallery[0], index_dir, progress=False)
    log = open(str(tmp_path_factory.mktemp('serve_log') / 'serve.log'), 'w+')
    proc = subprocess.Popen(
        [
            sys.executable,
            osp.join(ROOT, 'tools', 'serve.py'),
            '--config',
            cfg,
            '--checkpoint',
            ckpt,
            '--index-dir',
            index_dir,
            '--port',
            '0',
        ],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT),
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    line = ''
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        line = proc.stdout.readline()
        if line.startswith('serving'):
            break
    match = re.search(r'http://127\.0\.0\.1:(\d+)/', line)
    if not match:
        proc.kill()
        log.seek(0)
        pytest.fail(f'serve.py did not start: {line!r}\n{log.read()[-3000:]}')
    try:
        yield match.group(0).rstrip('/'), index_dir
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            return resp.status, resp.headers.get('Content-Type'), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get('Content-Type'), err.read()


def _api(base, query, k):
    status, ctype, body = _get(f'{base}/api/search?q={urllib.request.quote(query)}&k={k}')
    assert status == 200 and ctype == 'application/json'
    return json.loads(body)


def test_api_returns_ranked_results_and_serves_only_indexed_images(server, tiny_model, gallery):
    base, _ = server
    data = _api(base, QUERY, 5)
    assert data['gallery_size'] == 9 and [r['rank'] for r in data['results']] == [1, 2, 3, 4, 5]
    inf = TextImageInferencer(*tiny_model[:2])
    sims = inf.encode_images(gallery[1]) @ inf.encode_texts([QUERY])[0]
    order = np.argsort(-sims, kind='stable')[:5]
    assert [r['path'] for r in data['results']] == [gallery[1][i] for i in order]
    np.testing.assert_allclose([r['score'] for r in data['results']], sims[order], atol=2e-4)
    status, ctype, body = _get(base + data['results'][0]['image'])
    assert status == 200 and ctype == 'image/png'
    with open(data['results'][0]['path'], 'rb') as f:
        assert body == f.read()
    for bad in ('/image/9', '/image/-1', '/image/..%2Fetc%2Fpasswd', '/nope'):
        assert _get(base + bad)[0] == 404, bad
    assert _get(base + '/api/search?q=%20')[0] == 400
    assert _get(base + '/api/search?q=x&k=many')[0] == 400
    assert len(_api(base, QUERY, 1000)['results']) == 9  # k is clipped to the gallery


@pytest.fixture
def browser():
    for name in BROWSERS:
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip(
        'headless browser test needs Chromium, which is not installed '
        '(Debian: apt-get install -y chromium)'
    )


def _chromium(browser, profile, *args):
    cmd = [
        browser,
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--hide-scrollbars',
        f'--user-data-dir={profile}',
        '--virtual-time-budget=20000',
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def test_page_in_headless_chromium(browser, server, tmp_path):
    base, _ = server
    url = f'{base}/?q={urllib.request.quote(QUERY)}&k=6'
    proc = _chromium(browser, str(tmp_path / 'profile'), '--dump-dom', url)
    dom = proc.stdout
    assert '<body' in dom, proc.stderr[-2000:]
    # the page's script read q from the URL, searched, and rendered the results
    assert re.search(r'<body[^>]*data-state="done"', dom), dom[-2000:]
    items = re.findall(
        r'<li class="result" data-rank="(\d+)" data-score="([-\d.]+)">\s*'
        r'<img[^>]*src="(/image/\d+)"',
        dom,
    )
    expected = _api(base, QUERY, 6)['results']
    assert [int(r) for r, _, _ in items] == [1, 2, 3, 4, 5, 6]
    assert [src for _, _, src in items] == [r['image'] for r in expected]
    np.testing.assert_allclose(
        [float(s) for _, s, _ in items], [r['score'] for r in expected], atol=1e-4
    )
    assert re.search(r'data-images-loaded="6"', dom), 'not every result image loaded'
    assert f'6 of 9 images for "{QUERY}"' in dom
    # a screenshot to look at; it must show the rendered images, not a blank page
    shot = str(tmp_path / 'page.png')
    _chromium(
        browser, str(tmp_path / 'profile2'), '--window-size=1000,640', f'--screenshot={shot}', url
    )
    with Image.open(shot) as img:
        pixels = np.asarray(img.convert('RGB'))
    assert pixels.shape[:2] == (640, 1000) and pixels.std() > 20
