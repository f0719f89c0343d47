"""The web config section: every field documented, keys only named (never stored), CIDRs validated."""

from __future__ import annotations

import pytest

from asearcher.config.base import ConfigError, load_config
from asearcher.config.web import WebConfig


def test_every_web_field_is_documented():
    undocumented = [name for name, f in WebConfig.model_fields.items() if not f.description]
    assert not undocumented, undocumented


def test_keys_are_named_not_stored():
    assert WebConfig().key_env() == "SERPER_API_KEY"
    assert WebConfig(search_provider="brave").key_env() == "BRAVE_API_KEY"
    assert WebConfig(search_provider="tavily", api_key_env="MY_TAVILY").key_env() == "MY_TAVILY"
    assert WebConfig(search_provider="searxng").key_env() is None
    assert not [n for n in WebConfig.model_fields if "key" in n and not n.endswith("_env")]


def test_bad_values_are_named():
    with pytest.raises(ConfigError, match="allow_cidrs"):
        load_config(WebConfig, None, ["allow_cidrs=[10.0.0.0/40]"])
    with pytest.raises(ConfigError, match="search_provider"):
        load_config(WebConfig, None, ["search_provider=bing"])
    cfg = load_config(WebConfig, None, ["allow_hosts=[wiki.corp]", "cache_ttl_s=null", "access=reader"])
    assert (cfg.allow_hosts, cfg.cache_ttl_s, cfg.access) == (["wiki.corp"], None, "reader")
