"""The server: the page and the prepared stimuli only (anything else 404), submissions checked (400, nothing recorded)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from fastapi.testclient import TestClient

from ladle_model.listening.app import MAX_BODY_BYTES, create_app
from ladle_model.listening.layout import ListeningFiles
from ladle_model.listening.ratings import read_ratings


@pytest.fixture
def client(prepared):
    run, test = prepared
    return TestClient(create_app(run)), run, test


def ratings_of(test, excerpt="e01", value=2.0):
    return {s.id: value for s in test.trial(excerpt).stimuli.values()}


def post(client, payload, **kwargs):
    return client.post(
        "/api/submit", content=json.dumps(payload), headers={"Content-Type": "application/json"}, **kwargs
    )


def test_serves_the_page_and_the_prepared_stimuli(client):
    c, run, test = client
    page = c.get("/")
    assert page.status_code == 200 and '<script src="/app.js">' in page.text
    assert c.get("/app.js").status_code == 200 and "AudioContext" in c.get("/app.js").text
    assert "text/css" in c.get("/style.css").headers["content-type"]
    view = c.get("/api/test", params={"listener": "alice"}).json()
    assert view["test_id"] == test.test_id and len(view["trials"]) == 2 and view["submitted"] == []
    stimulus = view["trials"][0]["stimuli"][0]
    wav = c.get(f"/audio/{stimulus['id']}.wav")
    trial = test.trial(view["trials"][0]["excerpt"])
    expected = next(s for s in trial.stimuli.values() if s.id == stimulus["id"])
    assert wav.status_code == 200 and wav.content == (ListeningFiles.of(run).root / expected.file).read_bytes()
    assert wav.content[:4] == b"RIFF"


@pytest.mark.parametrize(
    "path",
    [
        "/test.json",
        "/ratings.parquet",
        "/stimuli/e01/reference.wav",
        "/audio/reference.wav",
        "/audio/..%2Ftest.json",
        "/audio/..%2F..%2Flistening%2Ftest.json",
        "/audio/%2e%2e/test.json",
        "/static/app.js",
        "/..%2F..%2Fpyproject.toml",
        "/app.js/../../pyproject.toml",
        "/docs",
        "/openapi.json",
        "/index.html",
        "/?name=../../pyproject.toml",
    ],
)
def test_any_other_path_is_404(client, path):
    c, _, _ = client
    response = c.get(path)
    if path.startswith("/?"):  # the page itself, whatever the query: never another file
        assert response.status_code == 200 and "LadLe listening test" in response.text
    else:
        assert response.status_code == 404


def test_a_good_submission_is_recorded_and_the_listener_can_resume(client):
    c, run, test = client
    response = post(c, {"listener": "alice", "excerpt": "e02", "ratings": ratings_of(test, "e02", -1.5)})
    assert response.status_code == 200 and response.json() == {"recorded": 3, "submitted": ["e02"]}
    table = read_ratings(ListeningFiles.of(run))
    assert sorted(table["condition"]) == ["lossy", "model", "reference"] and set(table["rating"]) == {-1.5}
    assert c.get("/api/test", params={"listener": "alice"}).json()["submitted"] == ["e02"]
    assert c.get("/api/test", params={"listener": "bob"}).json()["submitted"] == []


@pytest.mark.parametrize(
    "case",
    [
        "unknown excerpt",
        "unknown condition",
        "out of range",
        "missing stimulus",
        "not json",
        "not an object",
        "oversized",
        "oversized, length not declared",
        "form post",
        "bad listener",
    ],
)
def test_malformed_submissions_get_400_and_record_nothing(client, case):
    c, run, test = client
    good = {"listener": "alice", "excerpt": "e01", "ratings": ratings_of(test)}
    headers = {"Content-Type": "application/json"}
    if case == "unknown excerpt":
        response = post(c, {**good, "excerpt": "e03"})
    elif case == "unknown condition":
        response = post(c, {**good, "ratings": {**good["ratings"], "model": 1.0}})
    elif case == "out of range":
        response = post(c, {**good, "ratings": {k: 6.0 for k in good["ratings"]}})
    elif case == "missing stimulus":
        response = post(c, {**good, "ratings": dict(list(good["ratings"].items())[:2])})
    elif case == "not json":
        response = c.post("/api/submit", content=b"{listener: alice", headers=headers)
    elif case == "not an object":
        response = post(c, [good])
    elif case == "oversized":
        response = post(c, {**good, "padding": "x" * MAX_BODY_BYTES})
    elif case == "oversized, length not declared":
        chunks = iter([b"{" + b" " * MAX_BODY_BYTES] * 2)  # a streamed body: no Content-Length
        response = c.post("/api/submit", content=chunks, headers=headers)
    elif case == "form post":
        response = c.post("/api/submit", content=json.dumps(good), headers={"Content-Type": "text/plain"})
    else:
        response = post(c, {**good, "listener": "a/b"})
    assert response.status_code == 400 and response.json()["detail"]
    assert not ListeningFiles.of(run).ratings.exists()


def test_ctrl_c_stops_the_server_cleanly(prepared):
    run, _ = prepared
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = f"from ladle_model.listening.app import serve; serve({str(run)!r}, '127.0.0.1', {port})"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=os.getcwd(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        for _ in range(600):  # wait until it answers (imports take a few seconds here)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/test?listener=x", timeout=1) as r:
                    assert json.load(r)["listener"] == "x"
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err
