"""Page access against the local test web: cleaned text, redirects, guard refusals (incl. via redirects and
DNS), limits, retries, content types, the reader service, cache hits and replay-only mode.

Every request goes through ``CheckedNet``: resolving a non-test name or connecting anywhere but the test server
on 127.0.0.1 fails the test before a packet leaves.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from asearcher.errors import ToolError, ToolUnavailableError
from asearcher.tools import Tools
from asearcher.web import GuardError, PageError
from asearcher.web.fetch import parse_reader_answer
from tests.integration import test_web_support as support
from tests.integration.test_web_support import ARTICLE, make_tools

net, web_server = support.net, support.web_server  # the local test web's fixtures


def access_all(tools, urls):
    """Access each URL in one event loop; returns Page/None or the raised exception per URL, then closes."""
    async def go():
        out = []
        for u in urls:
            try:
                out.append(await tools.access(u))
            except (ToolError, ToolUnavailableError) as e:
                out.append(e)
        await tools.aclose()
        return out

    return asyncio.run(go())


def test_article_is_cleaned_and_connection_pinned(web_server, net, tmp_path):
    tools = make_tools(net, tmp_path)
    assert isinstance(tools, Tools)
    site = f"http://site.test:{web_server.port}"
    (page,) = access_all(tools, [f"{site}/article#section"])
    assert page.url == f"{site}/article" and page.title == "The Moon & its orbit"
    assert "384,400 kilometres" in page.contents and "1737 km" in page.contents
    assert "SCRIPT_NOISE" not in page.contents and "Accept all cookies" not in page.contents
    assert net.resolved == ["site.test"] and net.connected == [f"127.0.0.1:{web_server.port}"]
    assert web_server.seen_headers[-1]["host"] == f"site.test:{web_server.port}"  # name kept, IP pinned


def test_redirect_chain_is_followed_hop_by_hop(web_server, net, tmp_path):
    tools = make_tools(net, tmp_path)
    site = f"http://site.test:{web_server.port}"
    before = web_server.count("/redirect/")
    page, loop = access_all(tools, [f"{site}/redirect/3", f"{site}/loop"])
    assert page.url == f"{site}/article" and "Buzz Aldrin" in page.contents
    assert web_server.count("/redirect/") - before == 3
    assert isinstance(loop, PageError) and "more than 5 redirects" in str(loop)
    assert tools.metrics()["web/redirects"] == 3 + 5


def test_redirects_to_refused_targets_are_blocked(web_server, net, tmp_path):
    tools = make_tools(net, tmp_path, allow_cidrs=[])
    site = f"http://site.test:{web_server.port}"
    port = web_server.port
    targets = [f"http://internal.test:{port}/secret", f"http://127.0.0.1:{port}/article", "file:///etc/passwd",
               f"http://[::1]:{port}/", "http://169.254.169.254/latest/meta-data/", f"http://rebind.test:{port}/",
               f"http://localhost:{port}/article"]
    results = access_all(tools, [f"{site}/to?url={httpx.URL(t)}" for t in targets])
    for target, r in zip(targets, results, strict=True):
        assert isinstance(r, GuardError), (target, r)
    assert "10.0.0.5" in str(results[0]) and "10.0.0.7" in str(results[5])  # ALL resolved addresses checked
    assert tools.metrics()["web/access_refused"] == len(targets)
    assert set(net.connected) == {f"127.0.0.1:{port}"}  # only the allowed first hops ever connected


def test_without_allow_list_local_and_private_addresses_are_refused(web_server, net, tmp_path):
    tools = make_tools(net, tmp_path, allow_hosts=[])
    port = web_server.port
    urls = [f"http://127.0.0.1:{port}/article", f"http://localhost:{port}/article", f"http://site.test:{port}/article",
            "http://10.0.0.1/", "http://172.16.0.1/", "http://192.168.1.1/", "http://169.254.169.254/",
            f"http://[::1]:{port}/", "http://meta.test/", "http://v6local.test/", "file:///etc/passwd",
            "http://user:pw@site.test/", "ftp://site.test/"]
    results = access_all(tools, urls)
    assert all(isinstance(r, GuardError) for r in results), results
    assert net.connected == []  # refused before any connection
    assert set(net.resolved) == {"site.test", "meta.test", "v6local.test"}  # names resolved, literals never


def test_slow_endpoint_times_out_and_is_retried(web_server, net, tmp_path):
    tools = make_tools(net, tmp_path, timeout_s=0.4, max_retries=1)
    before = web_server.count("/slow")
    start = time.monotonic()
    (r,) = access_all(tools, [f"http://site.test:{web_server.port}/slow?s=2"])
    elapsed = time.monotonic() - start
    assert isinstance(r, ToolError) and "did not answer within 0.4 s" in str(r)
    assert 0.75 < elapsed < 1.8 and web_server.count("/slow") - before == 2
    assert tools.metrics()["web/retries"] == 1 and tools.metrics()["web/access_failures"] == 1


def test_429_is_retried_then_succeeds_and_5xx_becomes_an_observation(web_server, net, tmp_path):
    tools = make_tools(net, tmp_path, max_retries=3)
    site = f"http://site.test:{web_server.port}"
    page, down, down_again = access_all(tools, [f"{site}/flaky?id=f1&fail=2", f"{site}/down", f"{site}/down"])
    assert "Buzz Aldrin" in page.contents
    assert isinstance(down, ToolError) and "HTTP 503" in str(down) and not isinstance(down, PageError)
    assert isinstance(down_again, ToolError)
    m = tools.metrics()
    assert m["web/http_429"] == 2 and m["web/retries"] == 2 + 3 + 3
    assert web_server.count("/down") == 8  # transient failures are not cached


def test_size_limits_truncate_text_and_refuse_large_binaries(web_server, net, tmp_path):
    tools = make_tools(net, tmp_path, max_page_bytes=100_000, max_page_chars=20_000)
    site = f"http://site.test:{web_server.port}"
    huge, pdf = access_all(tools, [f"{site}/huge", f"{site}/doc.pdf"])
    assert huge.title == "Huge" and "END_MARKER" not in huge.contents
    assert "[page truncated: larger than 100000 bytes]" in huge.contents
    assert "[text truncated at 20000 characters]" in huge.contents and len(huge.contents) < 20_200
    assert "helium-3" in pdf.contents
    small = make_tools(net, tmp_path / "b", max_page_bytes=500)
    (big_pdf,) = access_all(small, [f"{site}/doc.pdf"])
    assert isinstance(big_pdf, PageError) and "over the 500-byte limit" in str(big_pdf)


def test_content_types(web_server, net, tmp_path):
    tools = make_tools(net, tmp_path)
    site = f"http://site.test:{web_server.port}"
    pdf, binary, png, text, latin, gz, tiny, missing, forbidden = access_all(tools, [
        f"{site}/doc.pdf", f"{site}/binary", f"{site}/image.png", f"{site}/plain.txt", f"{site}/latin1",
        f"{site}/gzip", f"{site}/tiny", f"{site}/nope", f"{site}/forbidden"])
    assert pdf.title == "Lunar Report" and "Sample count: 842." in pdf.contents
    assert isinstance(binary, PageError) and "binary file (application/octet-stream, 10240 bytes)" in str(binary)
    assert isinstance(png, PageError) and "image/png" in str(png)
    assert text.contents == "Plain text file: café 42." and text.title == text.url
    assert latin.title == "Café" and "Crème brûlée" in latin.contents
    assert "Neil Armstrong" in gz.contents
    assert tiny.contents == "Only one short line."
    assert missing is None
    assert isinstance(forbidden, PageError) and "HTTP 403" in str(forbidden) and "block automated" in str(forbidden)


def test_cache_hit_on_rerun_and_replay_only(web_server, net, tmp_path):
    site = f"http://site.test:{web_server.port}"
    urls = [f"{site}/article", f"{site}/binary", f"{site}/nope"]
    first = access_all(make_tools(net, tmp_path), urls)
    n = len(web_server.requests)
    again = make_tools(net, tmp_path)
    second = access_all(again, [f"{site}/article#other-fragment", f"{site}/binary", f"{site}/nope"])
    assert len(web_server.requests) == n  # all three answered from the cache
    assert second[0] == first[0] and str(second[1]) == str(first[1]) and second[2] is None
    assert again.metrics()["web/access_cache_hits"] == 3
    connected = len(net.connected)
    replay = make_tools(net, tmp_path, replay_only=True)
    page, miss = access_all(replay, [f"{site}/article", f"{site}/plain.txt"])
    assert page == first[0]
    assert isinstance(miss, ToolError) and "replay-only mode" in str(miss)
    assert len(net.connected) == connected and len(web_server.requests) == n  # no network at all


def test_concurrent_identical_accesses_share_one_request(web_server, net, tmp_path):
    tools = make_tools(net, tmp_path, cache_path=None)
    url = f"http://site.test:{web_server.port}/flaky?id=shared&fail=0"

    async def go():
        pages = await asyncio.gather(*(tools.access(url) for _ in range(6)))
        await tools.aclose()
        return pages

    pages = asyncio.run(go())
    assert all(p == pages[0] for p in pages) and web_server.count("/flaky?id=shared") == 1
    assert tools.metrics()["web/shared_requests"] == 5


def test_reader_service(web_server, net, tmp_path):
    tools = make_tools(net, tmp_path, access="reader", reader_base_url=f"{web_server.base}/reader", max_retries=1)
    site = f"http://site.test:{web_server.port}"
    page, missing, down, refused = access_all(tools, [f"{site}/article", f"{site}/missing", f"{site}/reader-down",
                                                      "http://internal.test/"])
    assert page.title == "Reader: The Moon" and page.contents == "The Moon is Earth's only natural satellite."
    assert web_server.count(f"/reader/{site}/reader-down") == 2  # retried once
    assert missing is None
    assert isinstance(down, ToolUnavailableError) and "HTTP 503" in str(down)
    assert isinstance(refused, GuardError)
    assert tools.metrics()["web/unavailable"] == 1


def test_reader_plain_text_answer_is_parsed():
    r = httpx.Response(200, headers={"content-type": "text/plain"},
                       text="Title: A page\n\nURL Source: http://x/\n\nMarkdown Content:\nBody *text*.")
    assert parse_reader_answer(r) == ("A page", "\nBody *text*.")
    assert parse_reader_answer(httpx.Response(200, text="just text")) == ("", "just text")


@pytest.mark.parametrize("url", ["", "   "])
def test_empty_url_is_an_observation(net, tmp_path, url):
    (r,) = access_all(make_tools(net, tmp_path), [url])
    assert isinstance(r, ToolError) and "empty URL" in str(r)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """An HTTPS server on 127.0.0.1 with a self-signed certificate for ``site.test``; records the SNI names."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"), "-days", "1",
                    "-subj", "/CN=site.test", "-addext", "subjectAltName=DNS:site.test"],
                   check=True, capture_output=True)
    sni: list[str | None] = []
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "cert.pem", d / "key.pem")
    ctx.sni_callback = lambda sock, name, c: sni.append(name)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = ARTICLE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1], d / "cert.pem", sni
    httpd.shutdown()
    httpd.server_close()


def test_https_connects_to_checked_ip_with_sni_and_certificate_for_the_name(web_server, tmp_path, tls_server):
    port, cert, sni = tls_server
    n = support.CheckedNet(web_server.port, verify=ssl.create_default_context(cafile=str(cert)))
    n.ports.add(port)
    tools = make_tools(n, tmp_path, allow_hosts=["site.test", "other.test"], max_retries=0)
    page, wrong_name = access_all(tools, [f"https://site.test:{port}/article", f"https://other.test:{port}/x"])
    assert "Buzz Aldrin" in page.contents  # certificate verified for site.test while connecting to 127.0.0.1
    assert isinstance(wrong_name, ToolError) and "cannot connect" in str(wrong_name)  # cert is not for other.test
    assert sni[:2] == ["site.test", "other.test"] and not n.violations
    assert set(n.connected) == {f"127.0.0.1:{port}"}
