"""Page lookup by URL: normalisation of slashes, spaces, percent-encoding, case; bad page files."""

from __future__ import annotations

import pytest

from asearcher.errors import DataError
from asearcher.knowledge.pages import PageStore, load_pages, normalize_url
from asearcher.types import Page


def test_normalize_url():
    key = "world.local/wiki/Mara_Velin"
    for url in ["https://world.local/wiki/Mara_Velin", "http://World.local/wiki/Mara_Velin/",
                " https://world.local/wiki/Mara%20Velin ", "https://world.local/wiki/Mara Velin#Life",
                "world.local/wiki/Mara_Velin"]:
        assert normalize_url(url) == key, url
    assert normalize_url("https://a.b/x?q=1") == "a.b/x?q=1"


def test_page_store_lookups():
    store = PageStore([Page(url="https://world.local/wiki/Mara_Velin", title="Mara Velin", contents="c"),
                       Page(url="https://world.local/wiki/Tessaly", title="Tessaly", contents="t")])
    assert store.get("https://world.local/wiki/Mara%20Velin/").title == "Mara Velin"
    assert store.get("https://world.local/wiki/mara_velin").title == "Mara Velin"  # case-insensitive fallback
    assert store.get("https://world.local/wiki/Nobody") is None
    assert store.get("  ") is None
    assert store.url_for_title("Tessaly") == "https://world.local/wiki/Tessaly"


def test_load_pages_errors(tmp_path):
    f = tmp_path / "pages.jsonl"
    f.write_text('{"url": "u", "title": "t", "contents": "c"}\n{"url": "u2", "title": "t"}\n')
    with pytest.raises(DataError, match=r"pages.jsonl:2: field 'contents'"):
        load_pages(f)
    f.write_text('{"url": "u", "title": "t", "contents": "c"}\n')
    assert len(load_pages(f)) == 1
