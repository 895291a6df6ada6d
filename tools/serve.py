# Copyright (c) tpr_mm contributors. All rights reserved.
"""A local web page to search an indexed gallery by text (127.0.0.1 only).

    python tools/search.py index --config CONFIG --checkpoint CKPT --images DIR --index-dir OUT
    python tools/serve.py --config CONFIG --checkpoint CKPT --index-dir OUT [--port 8765]
    # then open http://127.0.0.1:8765/ (or /?q=a+person+in+a+red+jacket)

Routes: ``/`` the page (no external JS/CSS), ``/api/search?q=TEXT&k=10`` JSON
results, ``/image/ID`` the gallery image of index row ID.

Guards: a query over ``MAX_QUERY_CHARS`` characters is answered 413 and one
the model would truncate (more tokens than its context length) 400, both
before the model lock is taken; ``/image/`` takes ASCII digits only; a
``Host`` header other than this server's address (localhost, 127.0.0.1 or
[::1] with its port) is answered 403, against DNS rebinding; responses name
images by their path relative to the gallery folder, never an absolute path.
"""

import argparse
import copy
import json
import mimetypes
import os.path as osp
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from tpr_mm.apis import (
    CorruptIndexError,
    FingerprintMismatchError,
    GalleryIndex,
    IndexBusyError,
    TextImageInferencer,
)

HOST = '127.0.0.1'
MAX_K = 100
MAX_QUERY_CHARS = 1000  # far above any caption (CLIP reads 77 tokens, ~300 characters)
LOCAL_NAMES = ('localhost', '127.0.0.1', '[::1]')
PAGE = osp.join(osp.dirname(osp.abspath(__file__)), 'serve_page.html')


class QueryError(ValueError):
    """A query refused before encoding; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def display_names(paths) -> list:
    """Gallery paths relative to their common folder (never absolute)."""
    if not paths:
        return []
    try:
        root = osp.commonpath([osp.abspath(p) for p in paths])
    except ValueError:  # e.g. different drives
        return [osp.basename(p) for p in paths]
    if len(paths) == 1 or osp.isfile(root):
        root = osp.dirname(root)
    return [osp.relpath(osp.abspath(p), root) for p in paths]


def find_tokenizer(pipeline):
    """The test pipeline's caption tokeniser (a transform with ``context_length``)."""
    for transform in getattr(pipeline, 'transforms', []):
        if hasattr(transform, 'context_length'):
            return transform
    return None


class SearchService:
    """Inferencer + index behind a lock (one forward pass at a time)."""

    def __init__(self, inferencer: TextImageInferencer, index: GalleryIndex) -> None:
        self.inferencer, self.index = inferencer, index
        self.lock = threading.Lock()
        self.names = display_names(index.paths)
        self.tokenizer = find_tokenizer(inferencer.pipeline)
        if self.tokenizer is not None:
            # the same tokeniser one token longer: its output tells whether the query fits
            self._probe = copy.deepcopy(self.tokenizer)
            self._probe.context_length = self.tokenizer.context_length + 1

    def check_query(self, query: str) -> None:
        """Refuse, cheaply and without the lock, a query the model cannot read whole."""
        if len(query) > MAX_QUERY_CHARS:
            raise QueryError(
                413, f'query has {len(query)} characters; at most {MAX_QUERY_CHARS} are accepted'
            )
        if self.tokenizer is None:
            return
        pad = getattr(self.tokenizer, 'pad_token_id', 0)
        ids = self._probe.transform(dict(caption=query))['text']
        # The probe's last slot is padding iff the query fits; counting non-pad ids
        # would miss real tokens that share the padding id (CLIP's '!' is id 0).
        if int(ids[-1]) != pad:
            raise QueryError(
                400,
                f'query is longer than the model reads ({self.tokenizer.context_length} '
                'tokens); shorten it',
            )

    def search(self, query: str, k: int) -> dict:
        self.check_query(query)
        start = time.perf_counter()
        with self.lock:
            scores, ids = self.index.search(self.inferencer.encode_texts([query]), k)
        results = [
            dict(
                rank=r + 1,
                id=int(i),
                score=round(float(s), 4),
                name=self.names[i],
                image=f'/image/{int(i)}',
            )
            for r, (s, i) in enumerate(zip(scores[0], ids[0]))
            if i >= 0
        ]
        return dict(
            query=query,
            k=k,
            gallery_size=self.index.ntotal,
            results=results,
            elapsed_ms=round(1000 * (time.perf_counter() - start), 1),
        )


def make_handler(service: SearchService, page: bytes, default_k: int):

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header('Content-Type', ctype)
            self.send_header('Content-Length', str(len(body)))
            self.send_header('Cache-Control', 'no-store')
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, obj: dict) -> None:
            self._send(status, json.dumps(obj).encode(), 'application/json')

        def _host_ok(self) -> bool:
            host = (self.headers.get('Host') or '').strip().lower()
            port = self.server.server_address[1]
            allowed = {f'{name}:{port}' for name in LOCAL_NAMES + (HOST,)}
            if port == 80:
                allowed |= set(LOCAL_NAMES + (HOST,))
            return host in allowed

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            try:
                self._route()
            except Exception as exc:  # answer, never drop the connection
                self.log_message('error: %s: %s', type(exc).__name__, exc)
                self._json(500, dict(error='internal error; see the server log'))

        def _route(self) -> None:
            if not self._host_ok():
                port = self.server.server_address[1]
                return self._json(
                    403,
                    dict(
                        error=f'Host {self.headers.get("Host")!r} is not this server; '
                        f'open http://{HOST}:{port}/'
                    ),
                )
            url = urlparse(self.path)
            if url.path in ('/', '/index.html'):
                return self._send(200, page, 'text/html; charset=utf-8')
            if url.path == '/api/search':
                params = parse_qs(url.query)
                query = params.get('q', [''])[0].strip()
                if not query:
                    return self._json(400, dict(error='empty query: pass ?q=description'))
                try:
                    k = int(params.get('k', [default_k])[0])
                except ValueError:
                    return self._json(400, dict(error='k must be an integer'))
                try:
                    found = service.search(query, max(1, min(k, MAX_K)))
                except QueryError as exc:
                    return self._json(exc.status, dict(error=str(exc)))
                return self._json(200, found)
            if url.path.startswith('/image/'):
                return self._image(url.path[len('/image/') :])
            return self._json(404, dict(error=f'no such page: {url.path}'))

        def _image(self, key: str) -> None:
            # Only index rows are served, never arbitrary paths; ASCII digits only
            # (str.isdigit also accepts e.g. '²', which int() refuses).
            if not re.fullmatch(r'[0-9]{1,12}', key) or int(key) >= service.index.ntotal:
                return self._json(404, dict(error=f'no gallery image {key!r}'))
            path = service.index.paths[int(key)]
            try:
                with open(path, 'rb') as f:
                    body = f.read()
            except OSError:
                return self._json(404, dict(error=f'gallery image {key} is unreadable'))
            self._send(200, body, mimetypes.guess_type(path)[0] or 'application/octet-stream')

        def log_message(self, fmt: str, *args) -> None:
            sys.stderr.write(f'[serve] {self.address_string()} {fmt % args}\n')

    return Handler


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', required=True)
    parser.add_argument('--checkpoint', required=True)
    parser.add_argument('--index-dir', required=True, help='built by tools/search.py index')
    parser.add_argument('--port', type=int, default=8765, help='0 picks a free port')
    parser.add_argument('-k', type=int, default=10, help='results per query by default')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    inferencer = TextImageInferencer(args.config, args.checkpoint, device=args.device)
    try:
        index = GalleryIndex.load(args.index_dir, fingerprint=inferencer.fingerprint())
    except (FingerprintMismatchError, CorruptIndexError, IndexBusyError, FileNotFoundError) as exc:
        sys.exit(f'error: {exc}')
    with open(PAGE, 'rb') as f:
        page = f.read()
    server = ThreadingHTTPServer(
        (HOST, args.port), make_handler(SearchService(inferencer, index), page, args.k)
    )
    print(f'serving {index.ntotal} images on http://{HOST}:{server.server_port}/', flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == '__main__':
    main()
