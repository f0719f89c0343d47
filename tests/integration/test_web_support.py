"""Local web for the web-tool tests: one 127.0.0.1 HTTP server imitating web pages, the four search providers
and a reader service, plus a resolver and transport that FAIL THE TEST if asked for anything but loopback.

Imported by the other ``test_web_*`` modules; the tests here check the safety net itself.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from asearcher.config.web import WebConfig
from asearcher.web import WebTools, open_web_tools

PLANTED_KEY = "sk-PLANTED-7f3a9c1e-never-log-me"

TEST_DNS = {
    "site.test": ["127.0.0.1"],
    "other.test": ["127.0.0.1"],
    "internal.test": ["10.0.0.5"],
    "rebind.test": ["93.184.216.34", "10.0.0.7"],  # one public, one private: ALL must pass
    "meta.test": ["169.254.169.254"],
    "v6local.test": ["::1"],
}

ARTICLE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>The Moon &amp; its orbit</title>
<script>var tracking = "SCRIPT_NOISE"; function x() { return 1; }</script>
<style>.nav { color: red; } /* STYLE_NOISE */</style></head>
<body><nav class="menu"><a href="/">Home</a> <a href="/news">News</a> <a href="/shop">Shop</a></nav>
<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies.</div>
<main><article><h1>The Moon</h1>
<p>The Moon is Earth's only natural satellite. It orbits at an average distance of 384,400 kilometres and
takes about 27.3 days to complete one orbit.</p>
<p>Its surface gravity is about one sixth of Earth's. The Moon is tidally locked, so the same side always
faces Earth; the far side was first photographed by the Soviet probe Luna 3 in 1959.</p>
<table><tr><th>Property</th><th>Value</th></tr><tr><td>Mean radius</td><td>1737 km</td></tr>
<tr><td>Mass</td><td>7.35e22 kg</td></tr></table>
<p>Apollo 11 landed on the Moon on 20 July 1969 with Neil Armstrong and Buzz Aldrin aboard the lunar module.</p>
</article></main>
<footer>Copyright 2024 Example Media Group. All rights reserved. Privacy policy. Terms of use.</footer>
<script>document.write("SCRIPT_NOISE_2")</script></body></html>"""


def make_pdf(lines: list[str], title: str) -> bytes:
    """A small, valid one-page PDF (Helvetica text) with a /Title, written by hand with a correct xref."""
    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    content = "BT /F1 12 Tf 72 720 Td 16 TL " + " ".join(f"({esc(x)}) '" for x in lines) + " ET"
    objs = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Title ({esc(title)}) >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{obj}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


PDF = make_pdf(["Lunar Report 2024", "The regolith samples contain helium-3.", "Sample count: 842."],
               "Lunar Report")


class WebServer:
    """A ThreadingHTTPServer on 127.0.0.1 (free port) serving pages, providers and a reader; records requests."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.seen_headers: list[dict[str, str]] = []
        self.counters: dict[str, int] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.handle(self, "GET")

            def do_POST(self) -> None:
                server.handle(self, "POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def count(self, prefix: str) -> int:
        with self.lock:
            return sum(1 for _, p in self.requests if p.startswith(prefix))

    def bump(self, name: str) -> int:
        with self.lock:
            self.counters[name] = self.counters.get(name, 0) + 1
            return self.counters[name]

    # ---- routing -------------------------------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        path, qs = parts.path, parse_qs(parts.query)
        body = h.rfile.read(int(h.headers.get("content-length") or 0)) if method == "POST" else b""
        with self.lock:
            self.requests.append((method, h.path))
            self.seen_headers.append({k.lower(): v for k, v in h.headers.items()})
        host = h.headers.get("host", "")
        if path.startswith(("/serper", "/searxng", "/brave", "/tavily")):
            return self.provider(h, path, qs, body)
        if path.startswith("/reader/"):
            return self.reader(h, h.path[len("/reader/"):])
        if path == "/article":
            return self.send(h, 200, ARTICLE.encode(), "text/html; charset=utf-8")
        if path == "/tiny":
            return self.send(h, 200, b"<html><body><div>Only one short line.</div></body></html>", "text/html")
        if path == "/plain.txt":
            return self.send(h, 200, "Plain text file: café 42.\n".encode(), "text/plain; charset=utf-8")
        if path == "/latin1":
            return self.send(h, 200, "<html><head><title>Caf\xe9</title></head><body><p>Cr\xe8me br\xfbl\xe9e "
                             "is a dessert of rich custard topped with hardened caramelised sugar.</p></body></html>"
                             .encode("latin-1"), "text/html; charset=iso-8859-1")
        if path == "/gzip":
            return self.send(h, 200, gzip.compress(ARTICLE.encode()), "text/html", {"Content-Encoding": "gzip"})
        if path.startswith("/redirect/"):
            n = int(path.rsplit("/", 1)[1])
            return self.send(h, 302, b"", "text/html", {"Location": "/article" if n <= 1 else f"/redirect/{n - 1}"})
        if path == "/loop":
            return self.send(h, 301, b"", "text/html", {"Location": "/loop"})
        if path == "/to":
            return self.send(h, 302, b"", "text/html", {"Location": qs["url"][0]})
        if path == "/slow":
            time.sleep(float(qs.get("s", ["3"])[0]))
            return self.send(h, 200, b"<html><body><p>finally</p></body></html>", "text/html")
        if path == "/flaky":
            if self.bump(f"flaky-{qs.get('id', [''])[0]}") <= int(qs.get("fail", ["2"])[0]):
                return self.send(h, 429, b"slow down", "text/plain", {"Retry-After": "0"})
            return self.send(h, 200, ARTICLE.encode(), "text/html")
        if path == "/down":
            return self.send(h, 503, b"maintenance", "text/plain")
        if path == "/huge":
            para = b"<p>" + b"Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20 + b"</p>\n"
            return self.send(h, 200, b"<html><head><title>Huge</title></head><body>" + para * 3000
                             + b"<p>END_MARKER</p></body></html>", "text/html")
        if path == "/binary":
            return self.send(h, 200, bytes(range(256)) * 40, "application/octet-stream")
        if path == "/image.png":
            return self.send(h, 200, b"\x89PNG\r\n\x1a\n" + b"\x00" * 500, "image/png")
        if path == "/doc.pdf":
            return self.send(h, 200, PDF, "application/pdf")
        if path == "/forbidden":
            return self.send(h, 403, b"no bots", "text/plain")
        if path == "/echo-host":
            return self.send(h, 200, f"host header: {host}".encode(), "text/plain")
        return self.send(h, 404, b"not found", "text/plain")

    def send(self, h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str,
             headers: dict[str, str] | None = None) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def send_json(self, h: BaseHTTPRequestHandler, status: int, data: object) -> None:
        self.send(h, status, json.dumps(data).encode(), "application/json")

    def results(self, q: str) -> list[dict[str, str]]:
        site = f"http://site.test:{self.port}"
        return [{"url": f"{site}/article", "title": f"The Moon — {q}", "snippet": "The <b>Moon</b> is Earth&#39;s "
                 "only natural satellite."},
                {"url": f"{site}/doc.pdf", "title": "Lunar Report", "snippet": "Regolith   samples\ncontain helium-3."},
                {"url": f"{site}/article", "title": "duplicate", "snippet": "same url again"},
                {"url": f"{site}/tiny", "title": "", "snippet": "A tiny page."}]

    def provider(self, h: BaseHTTPRequestHandler, path: str, qs: dict, body: bytes) -> None:
        name = path.strip("/").split("/")[0]
        if name == "serper-down" or (name == "serper-flaky" and self.bump("serper-flaky") <= 2):
            return self.send(h, 503, b"upstream error", "text/plain", {"Retry-After": "0"})
        if name.startswith("serper"):
            if h.headers.get("x-api-key") != PLANTED_KEY:
                return self.send(h, 403, b'{"message": "Unauthorized."}', "application/json")
            q = json.loads(body)["q"]
            if q == "bad request":
                return self.send(h, 400, f"bad query; you sent key {PLANTED_KEY}".encode(), "text/plain")
            rows = [{"title": r["title"], "link": r["url"], "snippet": r["snippet"], "position": i + 1}
                    for i, r in enumerate(self.results(q))]
            return self.send_json(h, 200, {"searchParameters": {"q": q}, "organic": rows,
                                           "answerBox": {"answer": "384,400 km"}})
        if name == "searxng-no-json":  # an instance without `json` in search.formats
            return self.send(h, 403, b"Forbidden", "text/html")
        if name == "searxng":
            if qs.get("format") != ["json"]:
                return self.send(h, 403, b"Forbidden", "text/html")
            q = qs["q"][0]
            rows = [{"url": r["url"], "title": r["title"], "content": r["snippet"], "engine": "duckduckgo",
                     "score": 3.0 - i} for i, r in enumerate(self.results(q))]
            return self.send_json(h, 200, {"query": q, "number_of_results": 0, "results": rows, "answers": []})
        if name == "brave":
            if h.headers.get("x-subscription-token") != PLANTED_KEY:
                return self.send(h, 401, b"{}", "application/json")
            rows = [{"title": r["title"], "url": r["url"], "description": r["snippet"], "type": "search_result"}
                    for r in self.results(qs["q"][0])]
            return self.send_json(h, 200, {"type": "search", "web": {"type": "search", "results": rows}})
        if name == "tavily":
            if h.headers.get("authorization") != f"Bearer {PLANTED_KEY}":
                return self.send(h, 401, b"{}", "application/json")
            q = json.loads(body)["query"]
            rows = [{"title": r["title"], "url": r["url"], "content": r["snippet"], "score": 0.9 - 0.1 * i}
                    for i, r in enumerate(self.results(q))]
            return self.send_json(h, 200, {"query": q, "results": rows, "response_time": 0.1})
        return self.send(h, 404, b"", "text/plain")

    def reader(self, h: BaseHTTPRequestHandler, target: str) -> None:
        if target.endswith("/reader-down"):
            return self.send(h, 503, b"busy", "text/plain", {"Retry-After": "0"})
        if target.endswith("/missing"):
            return self.send(h, 404, b"", "text/plain")
        if "json" in h.headers.get("accept", ""):
            return self.send_json(h, 200, {"code": 200, "status": 20000, "data": {
                "title": "Reader: The Moon", "url": target, "content": "The Moon is Earth's only natural satellite."}})
        text = f"Title: Reader: The Moon\n\nURL Source: {target}\n\nMarkdown Content:\nThe Moon orbits Earth."
        return self.send(h, 200, text.encode(), "text/plain")


class NetworkViolation(AssertionError):
    """Raised (and recorded) when code under test tries to leave the loopback test network."""


class CheckedNet:
    """Resolver + transport for tests: resolves only TEST_DNS names; connects only to 127.0.0.1 at the test
    server's port. Anything else is recorded and raised, so the test fails before a packet is sent."""

    def __init__(self, port: int, verify: Any = True):
        self.ports = {port}
        self.port = port
        self.verify = verify
        self.violations: list[str] = []
        self.resolved: list[str] = []
        self.connected: list[str] = []

    def fail(self, what: str) -> None:
        self.violations.append(what)
        raise NetworkViolation(what)

    async def resolve(self, host: str, port: int) -> list[str]:
        self.resolved.append(host)
        if host not in TEST_DNS:
            self.fail(f"resolve of non-test name {host!r}")
        return list(TEST_DNS[host])

    @property
    def transport(self) -> httpx.AsyncBaseTransport:
        """A fresh checked transport (its own connection pool, so each event loop gets its own)."""
        net = self
        real = httpx.AsyncHTTPTransport(retries=0, verify=self.verify)

        class Checked(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                url = request.url
                net.connected.append(f"{url.host}:{url.port}")
                if url.host != "127.0.0.1" or url.port not in net.ports:
                    net.fail(f"connection to refused address {url.host}:{url.port}")
                return await real.handle_async_request(request)

            async def aclose(self) -> None:
                await real.aclose()

        return Checked()


def make_tools(net: CheckedNet, tmp_path: Path, **overrides: Any) -> WebTools:
    """Web tools wired to the test server (SearXNG imitation by default), the checked resolver/transport and
    a cache in ``tmp_path``; ``site.test`` (→ 127.0.0.1) is allow-listed unless overridden."""
    fields: dict[str, Any] = dict(
        search_provider="searxng", search_base_url=f"http://127.0.0.1:{net.port}/searxng",
        cache_path=str(tmp_path / "cache.sqlite"), allow_hosts=["site.test"], timeout_s=3.0, backoff_s=0.0,
        max_retries=2, search_rps=None)
    fields.update(overrides)
    return open_web_tools(WebConfig(**fields), resolver=net, transport=net.transport)


@pytest.fixture(scope="module")
def web_server():
    s = WebServer()
    yield s
    s.close()


@pytest.fixture
def net(web_server):
    n = CheckedNet(web_server.port)
    yield n
    assert not n.violations, n.violations


# ---- tests of the safety net itself ------------------------------------------------------------------------


def test_checked_net_refuses_non_test_names_and_addresses(web_server):
    n = CheckedNet(web_server.port)

    async def go() -> bytes:
        t = n.transport
        with pytest.raises(NetworkViolation):
            await n.resolve("example.com", 443)
        with pytest.raises(NetworkViolation):
            await t.handle_async_request(httpx.Request("GET", "http://10.0.0.5/"))
        with pytest.raises(NetworkViolation):
            await t.handle_async_request(httpx.Request("GET", "http://127.0.0.1:1/"))
        r = await t.handle_async_request(httpx.Request("GET", f"{web_server.base}/plain.txt"))
        await r.aread()
        await t.aclose()
        return r.content

    assert b"Plain text file" in asyncio.run(go())
    assert len(n.violations) == 3


def test_hand_written_pdf_is_readable():
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(PDF))
    assert "helium-3" in reader.pages[0].extract_text()
    assert reader.metadata["/Title"] == "Lunar Report"
