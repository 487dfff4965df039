"""End to end in a real browser: a tiny corpus and run, `prepare_test`, the server, and Chromium driven by Playwright.

The listener plays a stimulus, switches between stimuli (the playback position carries on), moves
every slider from the keyboard, submits the first excerpt with Enter, reloads the page (it resumes at
the second excerpt), submits that one with the button, and sees the thank-you page. Then
ratings.parquet is checked row by row against what the page showed, and `ladle listen --results`
publishes its table as a Prefect artifact. The screenshot is kept under the test's tmp folder.

Needs pip's `playwright` and Debian's `chromium` (`.ci/run` installs it); skipped without them,
except in CI, where their absence is a failure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from ladle_model.listening.layout import ListeningFiles, read_test
from tests.conftest import tone_pcm, write_pcm

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
TINY = {"model_overrides": {"channels": 8, "n_units": 2}, "num_workers": 0, "feature_net_steps": 2, "lr": 1e-3}


def need_browser():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("pip's playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"no {CHROMIUM}: .ci/run should have installed Debian's chromium")
        pytest.skip(f"no {CHROMIUM} (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def run_and_data(prefect_harness, tmp_path_factory):
    """A paper-32k corpus whose test split is one 13-s track (two 6-s excerpts), a drrn1d trained 3 steps, and a copy to compare."""
    from flows.build_corpus import build_corpus
    from flows.train_ladle import train_ladle

    root = tmp_path_factory.mktemp("listen")
    # splits come from a hash of the audio: this 13-s tone lands in test, the 3-s ones in train (0, 1) and val (9)
    write_pcm(root / "library" / "long tone 9.flac", tone_pcm(13.0, seed=9))
    for seed in (0, 1, 9):
        write_pcm(root / "library" / f"tone {seed}.flac", tone_pcm(3.0, seed=seed))
    data, run = root / "data", root / "runs" / "tiny"
    build_corpus(sources=[str(root / "library")], data=str(data), presets=["paper-32k"], segment_seconds=0.25)
    train_ladle(data=str(data), run_dir=str(run), recipe="paper", overrides={**TINY, "model": "drrn1d", "max_steps": 3})
    shutil.copytree(run, root / "runs" / "other")
    return run, data, root / "runs" / "other"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_listener_takes_the_whole_test_in_chromium(run_and_data, tmp_path):
    need_browser()
    import uvicorn
    from playwright.sync_api import sync_playwright

    from ladle_model.listening.app import create_app
    from ladle_model.listening.prepare import ListenConfig, prepare_test

    run, data, other = run_and_data
    test = prepare_test(
        run, data, ListenConfig(n_excerpts=2, excerpt_seconds=6.0, compare=[str(other)], visqol=False, device="cpu")
    )
    assert [t.excerpt for t in test.trials] == ["e01", "e02"] and test.conditions == [
        "reference",
        "lossy",
        "tiny",
        "other",
    ]
    assert [(t.start_s, t.duration_s) for t in test.trials] == [(0.0, 6.0), (6.0, 6.0)]
    assert all(t.metrics["lossy"]["lsd"] > 0 and t.metrics["tiny"]["snr_db"] is not None for t in test.trials)
    assert (
        prepare_test(run, data, ListenConfig(n_excerpts=2, excerpt_seconds=6.0, compare=[str(other)], visqol=False)).key
        == test.key
    )

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(run), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    shown: dict[str, dict[str, float]] = {}  # excerpt -> stimulus id -> the rating the page showed
    screenshot = tmp_path / "listen.png"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 900, "height": 640})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{port}/?listener=tester-1")
            page.wait_for_selector("#trial:not([hidden])")
            assert page.inner_text("#progress-text") == "excerpt 1 of 2"

            # play the first stimulus, then switch: the same playback position carries on
            page.keyboard.press("1")
            page.wait_for_function("window.ladle.state.playing && window.ladle.position() > 0.3")
            first = page.evaluate("window.ladle.state.active")
            before = page.evaluate("window.ladle.position()")
            page.keyboard.press("2")
            after = page.evaluate("window.ladle.position()")
            assert page.evaluate("window.ladle.state.active") != first and after >= before
            assert (
                page.evaluate("window.ladle.state.sources.length") == 6
            )  # reference, lossy (labelled) + four hidden, all running
            page.wait_for_timeout(100)  # past the 20-ms crossfade: only the selected stimulus is audible
            gains = page.evaluate(
                "[...window.ladle.state.gains].map(([id, g]) => [id === window.ladle.state.active, g.gain.value])"
            )
            assert sorted(map(tuple, gains)) == [(False, 0.0)] * 5 + [(True, 1.0)]
            assert page.evaluate("[window.ladle.state.ctx.state, window.ladle.state.ctx.sampleRate]") == [
                "running",
                44100,
            ]
            page.keyboard.press("[")  # a loop from here to the end
            assert page.evaluate("window.ladle.state.loop.start") > 0.3
            page.keyboard.press("\\")
            assert page.evaluate("window.ladle.state.loop.start") == 0
            page.keyboard.press(" ")
            assert page.evaluate("window.ladle.state.playing") is False

            for round_ in range(2):
                excerpt = page.evaluate("window.ladle.state.trial.excerpt")
                labels = page.evaluate("window.ladle.state.trial.stimuli.map(s => s.label)")
                assert labels == ["A", "B", "C", "D"]
                for k, label in enumerate(labels):  # every slider moved from the keyboard, each to its own value
                    page.focus(f"#rate-{label}")
                    for _ in range(k + 1 + round_):
                        page.keyboard.press("ArrowRight")
                shown[excerpt] = page.evaluate("Object.fromEntries(window.ladle.state.ratings)")
                assert sorted(shown[excerpt].values()) == [0.5 * (k + 1 + round_) for k in range(4)]
                if round_ == 0:
                    page.keyboard.press("Enter")  # submit from the keyboard
                    page.wait_for_function("document.querySelector('#progress-text').textContent === 'excerpt 2 of 2'")
                    page.reload()  # a listener who closes the tab resumes where they were
                    page.wait_for_selector("#trial:not([hidden])")
                    assert page.inner_text("#progress-text") == "excerpt 2 of 2"
                else:
                    page.keyboard.press("3")  # listen again, loop from 1 s on, pause: the screenshot shows the loop
                    page.wait_for_function("window.ladle.position() > 1.0")
                    page.keyboard.press("[")
                    page.wait_for_function("window.ladle.position() > window.ladle.state.loop.start + 0.5")
                    page.keyboard.press(" ")
                    assert page.evaluate("window.ladle.state.loop.end") == pytest.approx(6.0, abs=0.01)
                    page.screenshot(path=str(screenshot), full_page=True)
                    page.click("#submit")
            page.wait_for_selector("#done:not([hidden])")
            assert page.inner_text("#progress-text") == "2 of 2 done" and not errors
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    print(f"screenshot: {screenshot}")
    assert screenshot.read_bytes()[:4] == b"\x89PNG"

    # ratings.parquet, row by row: one row per (excerpt, condition), the value the page showed
    table = pd.read_parquet(ListeningFiles.of(run).ratings)
    assert len(table) == 2 * 4
    condition_of = {
        s.id: (t.excerpt, c) for t in read_test(ListeningFiles.of(run)).trials for c, s in t.stimuli.items()
    }
    expected = sorted(
        (*condition_of[sid], value) for excerpt, ratings in shown.items() for sid, value in ratings.items()
    )
    assert sorted(zip(table["excerpt"], table["condition"], table["rating"])) == expected
    assert (
        set(table["listener_id"]) == {"tester-1"}
        and set(table["test_id"]) == {test.test_id}
        and set(table["scale"]) == {"ladle"}
    )
    assert table.groupby("excerpt")["time"].nunique().tolist() == [1, 1] and table["time"].is_monotonic_increasing

    # --results: the table, the box plot and the Prefect artifact
    from flows.cli.listen import add_listen as add_parser
    from ladle_model.listening.results import artifact_key
    from tests.flows.test_train_ladle import read_artifacts

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["listen", "--run", str(run), "--results"])
    assert args.handler(args) == 0
    assert ListeningFiles.of(run).boxplot.is_file()
    artifact = read_artifacts([artifact_key(run)])[artifact_key(run)]
    assert artifact.type == "table" and "other" in str(artifact.data) and "lsd" in str(artifact.data)
