"""Downloaded bytes → readable text: content-type sniffing, charset decoding, HTML main-text extraction
(trafilatura, with a plain HTML→text fallback), PDF text (pypdf). Pure functions; used by ``web.fetch``.
"""

from __future__ import annotations

import html as html_lib
import io
import logging
import re
from html.parser import HTMLParser
from typing import Literal

from asearcher.errors import ToolError

log = logging.getLogger(__name__)
Kind = Literal["html", "text", "pdf", "binary"]

_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "application/x-yaml",
               "application/ld+json", "application/rss+xml", "application/atom+xml")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_SKIP_TAGS = {"script", "style", "noscript", "template", "svg", "head", "iframe", "object", "canvas"}
_BLOCK_TAGS = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "section",
               "article", "header", "footer", "nav", "aside", "blockquote", "pre", "dt", "dd", "hr", "form",
               "main", "figure", "figcaption", "caption", "title"}
_VOID_TAGS = {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source", "wbr"}


def classify(content_type: str | None, body: bytes) -> Kind:
    """What the body is, from the Content-Type header, checked against the first bytes (servers lie)."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    head = body[:1024].lstrip().lower()
    if body.startswith(b"%PDF-") or ctype == "application/pdf":
        return "pdf"
    if ctype in _HTML_TYPES or head.startswith((b"<!doctype html", b"<html")):
        return "html"
    if ctype.startswith(_TEXT_TYPES) or ctype.endswith(("+xml", "+json")):
        return "text"
    if not ctype or ctype in ("application/octet-stream", "binary/octet-stream"):
        sample = body[:4096]
        if b"\x00" not in sample:
            try:
                sample.decode("utf-8")
                return "html" if b"<body" in head or b"<p>" in head else "text"
            except UnicodeDecodeError as e:
                if e.start >= len(sample) - 4:  # a multi-byte character cut by the sample's end
                    return "text"
    return "binary"


def decode(body: bytes, content_type: str | None) -> str:
    """Bytes → str: charset from the header, else a ``<meta charset>``/BOM, else UTF-8 (invalid bytes replaced)."""
    charset = None
    m = re.search(r"charset=[\"']?([\w.:-]+)", content_type or "", re.I)
    if m:
        charset = m.group(1)
    elif body.startswith(b"\xef\xbb\xbf"):
        charset = "utf-8-sig"
    else:
        m2 = re.search(rb"<meta[^>]+charset=[\"']?([\w.:-]+)", body[:4096], re.I)
        if m2:
            charset = m2.group(1).decode("ascii", "replace")
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skip = 0
        self._pre = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        self._pre += tag == "pre"
        if tag in _SKIP_TAGS and tag not in _VOID_TAGS:
            self._skip += 1
        elif tag in ("td", "th"):
            self.parts.append(" | ")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag == "pre" and self._pre:
            self._pre -= 1
        if tag in _SKIP_TAGS and self._skip:
            self._skip -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skip:
            self.parts.append(data if self._pre else data.replace("\n", " "))


def simple_html_text(html: str) -> str:
    """Plain HTML → text: drops scripts/styles/head, one line per block element, table cells joined by ``|``,
    whitespace collapsed, empty lines removed."""
    p = _TextParser()
    p.feed(html)
    p.close()
    lines = (" ".join(line.split()).strip(" |") for line in "".join(p.parts).split("\n"))
    return "\n".join(line for line in lines if line)


def html_title(html: str) -> str:
    """Text of the first ``<title>`` (entities decoded, whitespace collapsed); "" when absent."""
    m = re.search(r"<title[^>]*>(.*?)</title\s*>", html, re.I | re.S)
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", "", m.group(1))).split()) if m else ""


def html_to_text(html: str, url: str | None = None) -> tuple[str, str]:
    """(title, main text) of an HTML page: trafilatura's main-content extraction (tables kept, boilerplate
    dropped); when it finds nothing (tiny or unusual pages), the plain ``simple_html_text``."""
    import trafilatura

    text = None
    try:
        text = trafilatura.extract(html, url=url, include_tables=True, include_comments=False,
                                   favor_recall=True, output_format="txt")
    except Exception as e:  # noqa: BLE001 — a parser crash on one page must not fail the episode
        log.debug("trafilatura failed on %s: %s", url, e)
    if not text or not text.strip():
        text = simple_html_text(html)
    return html_title(html), text.strip()


def pdf_to_text(body: bytes) -> tuple[str, str]:
    """(title, text) of a PDF via pypdf: document title metadata and the pages' text joined by blank lines."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(body))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ToolError("the PDF is encrypted; its text cannot be read")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = str((reader.metadata or {}).get("/Title") or "").strip()
    except ToolError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as e:
        raise ToolError(f"the PDF could not be parsed ({type(e).__name__}: {e})") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise ToolError("the PDF has no extractable text (scanned images?)")
    return title, text


def short_ctype(content_type: str | None) -> str:
    return (content_type or "unknown type").split(";")[0].strip() or "unknown type"
