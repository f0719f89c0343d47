"""The UI in a real browser: Playwright driving Debian's Chromium (headless, no browser download) against
the server on 127.0.0.1 with a scripted engine and in-memory tools.

Run: ``.venv/bin/python -m pytest -m browser tests/integration/test_ui_browser.py`` (needs ``apt-get install -y
chromium``). Regenerate the README screenshots with ``ASEARCHER_UI_SCREENSHOTS=1`` (writes ``docs/ui-*.png``;
runs a short real RL loop on the tiny model for the dashboard and inspector).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration import test_ui_app
from tests.integration.test_ui_app import EVIL, QUESTION, VersionedEngine, build_run, make_app, script

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])").expect
ui_tokenizer = test_ui_app.ui_tokenizer  # the fixture, shared with the server tests

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium contacts Google services; only 127.0.0.1 is allowed here.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DOCS = Path(__file__).resolve().parents[2] / "docs"
WATCH = """
window.__violations = 0;
document.addEventListener('securitypolicyviolation', () => { window.__violations += 1; });
"""


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


@contextlib.contextmanager
def serve(app):
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port in a thread; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        assert time.time() < deadline and thread.is_alive(), "the UI server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextlib.contextmanager
def page_at(browser, base: str):
    """A fresh page that may only talk to ``base`` (anything else is aborted and fails the test)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    outside: list[str] = []

    def only_local(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    ctx.route("**/*", only_local)
    ctx.add_init_script(WATCH)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield page
        assert not errors, f"JavaScript errors: {errors}"
        assert not outside, f"the page tried to reach {outside}"
    finally:
        ctx.close()


def off_loop(fn, *args):
    """Run ``fn`` in a worker thread: Playwright's sync API keeps an event loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def assert_inert(page, container: str) -> None:
    """Untrusted markup in ``container`` was shown as text: no element made from it, nothing ran."""
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("window.__violations") == 0  # nothing even tried to run (CSP would have reported it)
    assert page.locator(f"{container} img").count() == 0 and page.locator(f"{container} script").count() == 0
    assert page.locator(f"{container} [onerror]").count() == 0
    assert page.locator(f'{container} a[href^="javascript"]').count() == 0
    assert EVIL in page.text_content(container)


def test_ask_streams_the_search_hits_and_answer_and_renders_untrusted_text_inert(browser, ui_tokenizer):
    engine = VersionedEngine(ui_tokenizer, script, delay_s=0.25)
    with serve(make_app(ui_tokenizer, engine=engine)) as base, page_at(browser, base) as page:
        page.goto(base + "/#ask")
        page.fill("#question", QUESTION)
        page.click("#ask-btn")
        page.wait_for_selector(".turn.search", timeout=20_000)
        assert page.locator(".turn.answer").count() == 0  # streamed: the answer is not there yet
        assert page.is_enabled("#stop-btn")
        page.wait_for_selector(".turn.answer", timeout=20_000)
        assert page.text_content(".turn.search .body") == "Bluefin Works founder born"
        titles = page.locator(".hit .title").all_text_contents()
        assert titles[0] == "Bluefin Works" and len(titles) == 3
        assert page.locator(".hit .url a").first.get_attribute("href") == "https://world.local/wiki/Bluefin_Works"
        assert "world.local/wiki/Zorba_Quell" in page.text_content(".turn.access")
        assert page.locator(".turn.observation", has_text="Page 1 of").count() == 1
        assert page.text_content(".turn.answer .body") == "Ostravin"
        expect(page.locator("#ask-status")).to_have_text(re.compile(r"^answered"))
        assert page.text_content('[data-counter="calls"] b') == "6"
        assert page.text_content('[data-counter="searches"] b') == "1"
        assert not page.is_enabled("#stop-btn") and page.is_enabled("#ask-btn")
        assert_inert(page, "#timeline")


def test_inspector_token_view_and_dashboard_chart(browser, ui_tokenizer, tmp_path):
    run = off_loop(build_run, tmp_path / "run", ui_tokenizer)
    with serve(make_app(ui_tokenizer, run_dirs=[run])) as base, page_at(browser, base) as page:
        page.goto(base + "/#inspect")
        page.wait_for_selector("#traj-table tbody tr")
        assert page.locator("#traj-table tbody tr").count() == 4
        page.locator("#traj-table tbody tr").nth(2).click()
        page.wait_for_selector("#calls .tok.out")
        ctx, out = page.locator("#calls .tok.ctx"), page.locator("#calls .tok.out")
        assert ctx.count() > 100 and out.count() > 50
        title = out.first.get_attribute("title")
        assert "loss mask 1" in title and "logprob -0.5" in title and "version" in title
        assert "loss mask 0" in ctx.first.get_attribute("title")
        mask_bg = page.evaluate("[...document.querySelectorAll('#calls .tok.out')].map(s => getComputedStyle(s).backgroundColor)")
        assert len(set(mask_bg)) == 1  # loss-mask mode: every trained token alike
        page.check('input[value="version"]')
        by_version = page.evaluate("""(() => { const m = {};
            for (const s of document.querySelectorAll('#calls .tok.out')) m[s.dataset.version] = getComputedStyle(s).backgroundColor;
            return m; })()""")
        assert len(by_version) >= 2 and len(set(by_version.values())) == len(by_version)
        assert page.locator("#legend", has_text="version").count() == 1
        assert page.locator(".call summary .tag.fork").count() >= 1  # page reading forks a training row
        assert_inert(page, "#traj-detail")

        page.goto(base + "/#dashboard")
        page.wait_for_selector('.chart[data-chart="Reward"] svg polyline', state="attached")
        assert page.locator('.chart[data-chart="Step time breakdown (s)"] svg rect').count() == 3 * 2
        with (run / "metrics.jsonl").open("a") as f:  # the run goes on: the dashboard picks it up
            f.write(json.dumps({"step": 3, "time": time.time(), "reward/mean": 0.9, "version": 4.0}) + "\n")
        expect(page.locator("#dash-status")).to_have_text(re.compile(r"^3 steps"), timeout=10_000)
        points = page.locator('.chart[data-chart="Reward"] svg polyline').first.get_attribute("points")
        assert len(points.split()) == 3


FOLD_OLDEST = """() => {  // fold the leading calls sampled only by the oldest weights: the newer version shows
  const calls = [...document.querySelectorAll('.call')];
  const versions = (c) => [...c.querySelectorAll('.tok.out')].map((s) => Number(s.dataset.version));
  const oldest = Math.min(...calls.flatMap(versions));
  for (const c of calls) { if (versions(c).every((v) => v === oldest)) c.open = false; else break; }
}"""


def _toy_rl_run(root: Path) -> tuple[Path, object]:
    """A real short async RL run of the tiny Qwen2 (512-token vocabulary, so a step takes seconds); the
    policy's text comes from the scripted engine, so rewards are the script's coin flips. For the screenshots
    only. Returns the run folder and the model's tokenizer."""
    import asyncio
    import random

    from asearcher.agent import build_agent, run_episode
    from asearcher.config import TrainConfig, load_config, save_config
    from asearcher.models import build_tiny
    from asearcher.monitoring import Tracker
    from asearcher.rewards import QAReward
    from asearcher.trainer.local import LocalTrainEngine
    from asearcher.trainer.loop import RLParts, rl_loop
    from asearcher.trainer.weight_sync import InProcessSync
    from asearcher.types import Example
    from tests.integration.test_ui_app import AGENT_OVERRIDES, ANSWER, demo_tools

    rng = random.Random(0)

    def coin_script(request, prompt):
        out = script(request, prompt)
        return out.replace("Ostravin</answer>", "Brightwater</answer>") if out == ANSWER and rng.random() < 0.4 else out

    model, tokenizer = build_tiny("tiny-qwen2")
    cfg = load_config(TrainConfig, None, AGENT_OVERRIDES + ["model.name=tiny-qwen2",
        "rollout.batch_size=1", "rollout.n_trajs=4", "rollout.max_concurrent=4", "rollout.max_staleness=2",
        "trainer.steps=8", "trainer.lr=1e-3", "trainer.autocast_bf16=false", "trainer.save_every=100",
        "monitoring.tensorboard=false", "monitoring.save_trajectories=4", f"out={root}"])
    save_config(cfg, root / "config.yaml")
    train = LocalTrainEngine(model, cfg.trainer)
    # calls take seconds, so episodes straddle weight updates (tokens of two versions in one trajectory)
    engine = VersionedEngine(tokenizer, coin_script, every=10**9, delay_s=3.0)
    agent = build_agent(cfg.agent, tokenizer)
    questions = [Example(id=f"q{i}", question=QUESTION, answers=["Ostravin"], meta={"hops": 2}) for i in range(40)]

    async def episode(example, valid, tid):
        return await run_episode(agent, engine, demo_tools(), example, valid_instruction=valid, trajectory_id=tid)

    parts = RLParts(train, engine, episode, QAReward("f1"), questions, InProcessSync(train))
    tracker = Tracker(root, jsonl=True)
    try:
        asyncio.run(rl_loop(cfg, root, parts, tracker, progress=False))
    finally:
        tracker.close()
    return root, tokenizer


@pytest.mark.skipif(not os.environ.get("ASEARCHER_UI_SCREENSHOTS"), reason="set ASEARCHER_UI_SCREENSHOTS=1 to "
                    "regenerate docs/ui-*.png")
@pytest.mark.timeout(1200)
def test_screenshots(browser, ui_tokenizer, tmp_path):
    run, run_tokenizer = off_loop(_toy_rl_run, tmp_path / "run")
    engine = VersionedEngine(ui_tokenizer, script, delay_s=0.05)
    app = make_app(ui_tokenizer, engine=engine, run_dirs=[run], tokenizer_loader=lambda name: run_tokenizer)
    with serve(app) as base, page_at(browser, base) as page:
        page.goto(base + "/#ask")
        page.fill("#question", QUESTION)
        page.click("#ask-btn")
        page.wait_for_selector(".turn.answer", timeout=20_000)
        shots = {"ask": page.screenshot(full_page=False)}
        page.goto(base + "/#inspect")
        page.set_viewport_size({"width": 1280, "height": 1200})
        page.wait_for_selector("#traj-table tbody tr")
        mixed = page.locator("#traj-table tbody tr", has_text=re.compile(r"\d–\d"))  # spans two versions
        (mixed.first if mixed.count() else page.locator("#traj-table tbody tr").last).click()
        page.wait_for_selector("#calls .tok.out")
        page.check('input[value="version"]')
        page.evaluate(FOLD_OLDEST)
        shots["inspector"] = page.screenshot(full_page=False)
        page.goto(base + "/#dashboard")
        page.set_viewport_size({"width": 1280, "height": 1480})
        page.wait_for_selector('.chart[data-chart="Step time breakdown (s)"] svg rect', state="attached")
        shots["dashboard"] = page.screenshot(full_page=False)
    for name, png in shots.items():
        assert 10_000 < len(png) < 500_000, (name, len(png))
        (DOCS / f"ui-{name}.png").write_bytes(png)
