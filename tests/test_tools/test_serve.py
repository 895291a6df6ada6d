# Copyright (c) tpr_mm contributors. All rights reserved.
"""tools/serve.py: the JSON API, and the page driven by headless Chromium."""

import http.client
import json
import os
import os.path as osp
import re
import shutil
import socket
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
    names = [osp.relpath(p, gallery[0]) for p in gallery[1]]
    assert [r['name'] for r in data['results']] == [names[i] for i in order]
    assert 'cam2/' + osp.basename(gallery[1][-1]) in names  # relative, with its subfolder
    np.testing.assert_allclose([r['score'] for r in data['results']], sims[order], atol=2e-4)
    status, ctype, body = _get(base + data['results'][0]['image'])
    assert status == 200 and ctype == 'image/png'
    with open(gallery[1][order[0]], 'rb') as f:
        assert body == f.read()
    for bad in ('/image/9', '/image/-1', '/image/..%2Fetc%2Fpasswd', '/nope'):
        assert _get(base + bad)[0] == 404, bad
    assert _get(base + '/api/search?q=%20')[0] == 400
    assert _get(base + '/api/search?q=x&k=many')[0] == 400
    assert len(_api(base, QUERY, 1000)['results']) == 9  # k is clipped to the gallery


def _port(base):
    return int(base.rsplit(':', 1)[1])


def _raw(base, request: bytes):
    """Send bytes as they are; return the status line ('' when the server hung up)."""
    with socket.create_connection(('127.0.0.1', _port(base)), timeout=30) as sock:
        sock.sendall(request)
        data = b''
        while chunk := sock.recv(65536):
            data += chunk
    return data.split(b'\r\n', 1)[0].decode('latin-1'), data


def _with_host(base, host, path='/'):
    conn = http.client.HTTPConnection('127.0.0.1', _port(base), timeout=30)
    try:
        conn.putrequest('GET', path, skip_host=True)
        if host is not None:
            conn.putheader('Host', host)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_long_queries_are_refused_before_encoding(server):
    base, _ = server
    start = time.perf_counter()
    status, _, body = _get(f'{base}/api/search?q={"personjack" * 6000}&k=3')  # 60,000 characters
    assert status == 413 and 'at most 1000' in json.loads(body)['error']
    assert time.perf_counter() - start < 5  # was 19 s of tokenising under the lock
    # 30 words fit in 1000 characters but not in the tiny model's 24 tokens
    status, _, body = _get(f'{base}/api/search?q={"red%20jacket%20" * 15}&k=3')
    assert status == 400 and '24 tokens' in json.loads(body)['error']
    # '!"!' is two tokens, the first of them id 0 (CLIP's padding id): 21 words + 2 + start
    # and end tokens are one too many (a count of non-padding ids saw 24 and let it through)
    status, _, body = _get(f'{base}/api/search?q={"red%20" * 21}%21%22%21&k=3')
    assert status == 400 and '24 tokens' in json.loads(body)['error']
    assert _api(base, 'red ' * 20 + '!"!', 3)['results']  # exactly 24 tokens: read whole
    assert _api(base, QUERY, 3)['results']  # the server still answers


def test_image_ids_take_ascii_digits_only(server):
    base, _ = server
    port = _port(base)
    # '\xb2' is '²' (latin-1, as http.server decodes the request line): str.isdigit() accepts it
    for key in (b'\xb2', b'1\xb9', b'%D9%A1', b'\xd9\xa1', b'0x1', b'+1', b' 1'):
        line, data = _raw(
            base, b'GET /image/' + key + b' HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n' % port
        )
        assert line.split(' ')[1:2] in (['404'], ['400']), (key, data[:200])
    line, _ = _raw(base, b'GET /image/0 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n' % port)
    assert line.split(' ')[1] == '200'


def test_host_header_must_name_this_server(server):
    base, _ = server
    port = _port(base)
    for host in (f'127.0.0.1:{port}', f'localhost:{port}', f'LOCALHOST:{port}', f'[::1]:{port}'):
        assert _with_host(base, host)[0] == 200, host
    for host in ('evil.example', f'evil.example:{port}', f'127.0.0.1:{port + 1}', '', None):
        status, body = _with_host(base, host, f'/api/search?q={urllib.request.quote(QUERY)}')
        assert status == 403 and b'is not this server' in body, host


def test_responses_hold_no_absolute_paths(server, gallery):
    base, index_dir = server
    data = _api(base, QUERY, 9)
    text = json.dumps(data)
    for path in gallery[1]:
        assert path not in text
    assert gallery[0] not in text and index_dir not in text
    assert all(set(r) == {'rank', 'id', 'score', 'name', 'image'} for r in data['results'])
    assert all(not osp.isabs(r['name']) for r in data['results'])
    for url in ('/image/999', '/nope', '/api/search?q=%20'):
        assert gallery[0].encode() not in _get(base + url)[2]


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
