"""``asearcher web search/fetch`` against the local test web (127.0.0.1 only; IP-literal URLs, so nothing is
ever resolved)."""

from __future__ import annotations

import json

from asearcher.cli.main import main
from tests.integration import test_web_support as support

web_server = support.web_server


def cli(*argv: str) -> int:
    return main(["web", *argv])


def test_search_prints_normalized_hits(web_server, tmp_path, capsys):
    cache = ["--set", f"cache_path={tmp_path / 'c.sqlite'}"]
    rc = cli("search", "moon facts", "--provider", "searxng", "--base-url", f"{web_server.base}/searxng",
             "--topk", "2", *cache)
    out, err = capsys.readouterr()
    assert rc == 0
    assert out.startswith("1. The Moon — moon facts  (score 3)\n") and "\n2. Lunar Report" in out and "\n3. " not in out
    assert "The Moon is Earth's only natural satellite." in out and "search_calls=1" in err
    rc = cli("search", "moon facts", "--provider", "searxng", "--base-url", f"{web_server.base}/searxng",
             "--topk", "2", "--json", *cache)
    out, err = capsys.readouterr()
    hits = json.loads(out)
    assert rc == 0 and [h["score"] for h in hits] == [3.0, 2.0] and "search_cache_hits=1" in err


def test_fetch_needs_allow_for_local_addresses(web_server, tmp_path, capsys):
    url = f"{web_server.base}/article"
    assert cli("fetch", url, "--no-cache") == 1
    assert "refused to open" in capsys.readouterr().err
    assert cli("fetch", "http://10.0.0.1/", "--no-cache") == 1
    assert "private address" in capsys.readouterr().err
    assert cli("fetch", url, "--allow", "127.0.0.1", "--no-cache") == 0
    out = capsys.readouterr().out
    assert out.startswith(f"# The Moon & its orbit\n{url}\n\n") and "Buzz Aldrin" in out and "SCRIPT_NOISE" not in out
    assert cli("fetch", f"{web_server.base}/doc.pdf", "--allow", "127.0.0.0/8", "--json", "--max-chars", "17",
               "--no-cache") == 0
    page = json.loads(capsys.readouterr().out)
    assert page["title"] == "Lunar Report" and page["contents"] == "Lunar Report 2024"
    assert cli("fetch", f"{web_server.base}/nope", "--allow", "127.0.0.1", "--no-cache") == 1
    assert "no such page" in capsys.readouterr().err


def test_config_file_and_bad_overrides(web_server, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SERPER_API_KEY", raising=False)
    assert cli("search", "x", "--no-cache") == 1
    assert "SERPER_API_KEY" in capsys.readouterr().err
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"web:\n  search_provider: searxng\n  search_base_url: {web_server.base}/searxng\n"
                   f"  cache_path: {tmp_path / 'c.sqlite'}\n")
    assert cli("search", "from file", "--config", str(cfg)) == 0
    assert "from file" in capsys.readouterr().out
    assert cli("search", "x", "--config", str(cfg), "--set", "search_rps=-1") == 1
    assert "search_rps" in capsys.readouterr().err
    assert cli("fetch", "http://example.invalid/", "--allow", "10.0.0.0/99", "--no-cache") == 1
    assert "--allow 10.0.0.0/99" in capsys.readouterr().err
