"""Pure content handling: sniffing, decoding, HTML→text (trafilatura + fallback), PDF text, snippets."""

from __future__ import annotations

import pytest

from asearcher.errors import ToolError
from asearcher.web.extract import classify, decode, html_title, html_to_text, pdf_to_text, simple_html_text
from asearcher.web.providers import clean_snippet
from tests.integration.test_web_support import ARTICLE, PDF


@pytest.mark.parametrize("ctype, body, kind", [
    ("text/html; charset=utf-8", b"<html>", "html"),
    ("application/xhtml+xml", b"<html>", "html"),
    ("text/plain", b"hello", "text"),
    ("application/json", b"{}", "text"),
    ("application/pdf", b"%PDF-1.4", "pdf"),
    ("application/octet-stream", b"%PDF-1.7\n...", "pdf"),  # sniffed
    ("text/plain", b"<!DOCTYPE html><html><body>x", "html"),  # sniffed
    ("image/png", b"\x89PNG\r\n", "binary"),
    ("application/zip", b"PK\x03\x04", "binary"),
    ("application/octet-stream", b"\x00\x01\x02", "binary"),
    (None, b"just some words", "text"),
    (None, b"\xff\xfe\x00garbage\x00", "binary"),
])
def test_classify(ctype, body, kind):
    assert classify(ctype, body) == kind


def test_decode_charset_sources():
    assert decode("Crème".encode("latin-1"), "text/html; charset=ISO-8859-1") == "Crème"
    assert decode(b'<meta charset="windows-1252"><p>caf\xe9', "text/html") .endswith("café")
    assert decode("naïve".encode(), None) == "naïve"
    assert decode(b"\xef\xbb\xbfbom", None) == "bom"
    assert decode(b"ok \xff", "text/plain; charset=no-such-codec") == "ok \ufffd"


def test_html_to_text_keeps_content_and_tables_and_drops_boilerplate():
    title, text = html_to_text(ARTICLE, "http://site.test/article")
    assert title == "The Moon & its orbit"
    assert "384,400 kilometres" in text and "Luna 3 in 1959" in text and "Buzz Aldrin" in text
    assert "1737 km" in text and "Mean radius" in text
    for noise in ("SCRIPT_NOISE", "STYLE_NOISE", "Accept all cookies", "All rights reserved", "function x"):
        assert noise not in text, noise


def test_fallback_when_trafilatura_finds_nothing():
    html = "<html><head><title>T</title><script>bad()</script></head><body><span>x</span></body></html>"
    title, text = html_to_text(html)
    assert (title, text) == ("T", "x")


def test_simple_html_text_blocks_tables_and_scripts():
    html = ("<html><head><title>ignored in body</title><style>p{}</style></head><body><h1>Head</h1>"
            "<p>One  <b>two</b>\n three</p><script>var a = 1;</script><table><tr><th>k</th><th>v</th></tr>"
            "<tr><td>a</td><td>1</td></tr></table><pre>l1\nl2</pre><ul><li>x</li><li>y &amp; z</li></ul></body></html>")
    assert simple_html_text(html) == "Head\nOne two three\nk | v\na | 1\nl1\nl2\nx\ny & z"


def test_html_title():
    assert html_title("<html><head><title>\n A &lt;b&gt; \n</title>") == "A <b>"
    assert html_title("<p>no title</p>") == ""


def test_pdf_to_text_and_bad_pdfs():
    title, text = pdf_to_text(PDF)
    assert title == "Lunar Report"
    assert "helium-3" in text and "Sample count: 842." in text
    with pytest.raises(ToolError, match="could not be parsed"):
        pdf_to_text(b"%PDF-1.4\nthis is not really a pdf")


def test_clean_snippet():
    assert clean_snippet("The <strong>Moon</strong> is&nbsp;Earth&#39;s\n  satellite") == "The Moon is Earth's satellite"
    assert clean_snippet(None) == ""
