"""The listening test's web server: the page, the prepared stimuli by opaque id, and the submissions.

    app = create_app("runs/ladle")                       # a FastAPI app over RUN/listening/test.json
    serve("runs/ladle", host="127.0.0.1", port=8765)     # uvicorn until Ctrl-C

Routes, and nothing else (FastAPI's /docs and /openapi.json are off):

    GET  /, /app.js, /style.css          the page (ladle_model/listening/static/, shipped with the package)
    GET  /api/test?listener=ID           this listener's trials in their blind order, and what they already submitted
    GET  /audio/{id}.wav                 one prepared stimulus, looked up by id in test.json (unknown: 404)
    POST /api/submit                     one trial's ratings (JSON); 400 and nothing recorded when malformed

No request path is ever joined to a folder, so `..` and every other path gets 404. The only writes
are to RUN/listening/ratings.parquet (ratings.py). Submissions must be `application/json` (a
cross-site form cannot send that without a CORS preflight this server never grants) and at most
MAX_BODY_BYTES long.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from ladle_model.listening.blind import LABELS, blind_order, valid_listener_id
from ladle_model.listening.layout import LOSSY, REFERENCE, SCALES, ListeningFiles, ListeningTest, read_test
from ladle_model.listening.ratings import (
    SubmissionError,
    append_ratings,
    read_ratings,
    submission_rows,
    submitted_excerpts,
)

STATIC = Path(__file__).parent / "static"
PAGE_FILES = {
    "/": ("index.html", "text/html"),
    "/app.js": ("app.js", "text/javascript"),
    "/style.css": ("style.css", "text/css"),
}
MAX_BODY_BYTES = 16 * 1024  # a trial's ratings are a few hundred bytes
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
LABELLED_NAMES = {REFERENCE: ("Reference", "r"), LOSSY: ("Lossy input", "l")}  # (button text, key)


def listener_view(test: ListeningTest, listener_id: str, submitted: list[str]) -> dict:
    """What the page needs for one listener: trials and stimuli in their blind order, under neutral labels."""
    trials = []
    for t in [test.trials[i] for i in blind_order(listener_id, "trials", len(test.trials), test.seed)]:
        conditions = sorted(t.stimuli)  # a fixed order to permute, however the dict was built
        order = blind_order(listener_id, t.excerpt, len(conditions), test.seed)
        stimuli = [{"label": LABELS[k], "id": t.stimuli[conditions[i]].id} for k, i in enumerate(order)]
        labelled = [
            {"name": LABELLED_NAMES[c][0], "key": LABELLED_NAMES[c][1], "id": t.labelled[c].id}
            for c in LABELLED_NAMES
            if c in t.labelled
        ]  # the reference first, whatever order test.json keeps
        trials.append(
            {
                "excerpt": t.excerpt,
                "title": t.title,
                "duration_s": t.duration_s,
                "labelled": labelled,
                "stimuli": stimuli,
            }
        )
    return {
        "test_id": test.test_id,
        "listener": listener_id,
        "scale": {"name": test.scale, **SCALES[test.scale]},
        "sample_rate": test.sample_rate,
        "trials": trials,
        "submitted": submitted,
    }


def _page_handler(name: str, media_type: str):
    """A handler without parameters (FastAPI would read any parameter from the query string)."""

    def page() -> FileResponse:
        return FileResponse(STATIC / name, media_type=media_type, headers=NO_STORE)

    return page


def create_app(run_dir: str | Path) -> FastAPI:
    """The app for RUN's prepared test; FileNotFoundError when there is none."""
    files = ListeningFiles.of(run_dir)
    test = read_test(files)
    if test is None:
        raise FileNotFoundError(
            f"no listening test prepared in {files.root} (run `ladle listen --run {run_dir} --data DATA`)"
        )
    audio = {sid: files.root / rel for sid, rel in test.files_by_id().items()}
    app = FastAPI(title="LadLe listening test", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.test, app.state.files = test, files

    for route, (name, media_type) in PAGE_FILES.items():
        app.add_api_route(route, _page_handler(name, media_type), methods=["GET"], include_in_schema=False)

    @app.get("/api/test")
    def get_test(listener: str = Query("")) -> JSONResponse:
        if not valid_listener_id(listener):
            raise HTTPException(400, "listener must be 1-64 letters, digits, '-' or '_'")
        done = submitted_excerpts(read_ratings(files), test.test_id, listener)
        return JSONResponse(listener_view(test, listener, done), headers=NO_STORE)

    @app.get("/audio/{name}")
    def get_audio(name: str) -> FileResponse:
        sid = name.removesuffix(".wav")
        if not name.endswith(".wav") or sid not in audio:
            raise HTTPException(404, "not found")
        return FileResponse(audio[sid], media_type="audio/wav", headers={"Cache-Control": "private, max-age=3600"})

    @app.post("/api/submit")
    async def submit(request: Request) -> JSONResponse:
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            raise HTTPException(400, "send the ratings as application/json")
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
            raise HTTPException(400, f"the body must be at most {MAX_BODY_BYTES} bytes")
        body = b""
        async for chunk in request.stream():  # the declared length is not trusted: count what arrives
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise HTTPException(400, f"the body must be at most {MAX_BODY_BYTES} bytes")
        try:
            rows = submission_rows(test, json.loads(body))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise HTTPException(400, "the body is not JSON") from None
        except SubmissionError as e:
            raise HTTPException(400, str(e)) from None
        append_ratings(files, rows)
        done = submitted_excerpts(read_ratings(files), test.test_id, rows[0]["listener_id"])
        return JSONResponse({"recorded": len(rows), "submitted": done}, headers=NO_STORE)

    return app


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve RUN's prepared test until Ctrl-C (uvicorn finishes the requests in flight, then returns)."""
    import uvicorn

    app = create_app(run_dir)
    try:
        # a browser tab's keep-alive connection must not hold up Ctrl-C for long
        uvicorn.Server(
            uvicorn.Config(
                app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=3
            )
        ).run()
    except KeyboardInterrupt:
        pass  # uvicorn shut down cleanly, then re-raised the Ctrl-C it captured: it has done its job
