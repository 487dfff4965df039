"""Prefect's temporary server for one `ladle` command, started so that it ends with the command.

    start_temporary_server()      # before a flow runs; nothing to do when PREFECT_API_URL names a server

Prefect starts a temporary server (a uvicorn process of about 250 MB) on a flow's first API call and
stops it at a clean exit; a `ladle` killed by a signal used to leave it running. Started here from
the main thread instead, with the kernel's parent-death signal (Linux `prctl(PR_SET_PDEATHSIG)`), it
gets SIGTERM however the command ends, even by SIGKILL. Prefect's client then finds it running and
uses it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# A first start migrates a new SQLite database; on two busy cores that can take longer than
# Prefect's default 20 s, which would end the command with a traceback.
STARTUP_TIMEOUT_S = 120


def _parent_death_signal() -> object:
    """A preexec_fn that makes the child get SIGTERM when this process dies (None off Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: preexec_fn must not load libraries
    parent_pid = os.getpid()

    def die_with_parent() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return die_with_parent


class _SubprocessDyingWithParent:
    """The `subprocess` module, except that Popen children die with this process."""

    def __init__(self, preexec_fn) -> None:
        self._preexec_fn = preexec_fn

    def __getattr__(self, name: str):
        return getattr(subprocess, name)

    def Popen(self, *args, **kwargs):  # noqa: N802 - stands in for subprocess.Popen
        return subprocess.Popen(*args, preexec_fn=self._preexec_fn, **kwargs)


def start_temporary_server() -> None:
    """Start Prefect's temporary server now (unless an API URL is set), tied to this process's life."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

    if PREFECT_API_URL.value():
        return
    import prefect.server.api.server as server_module

    preexec_fn = _parent_death_signal()
    if preexec_fn is None:
        return
    # Prefect's server module calls subprocess.Popen itself; it is swapped only while this (main)
    # thread starts the server, before any flow or other thread runs.
    server_module.subprocess = _SubprocessDyingWithParent(preexec_fn)
    try:
        timeout = max(STARTUP_TIMEOUT_S, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
        server = server_module.SubprocessASGIServer()
        server.start(timeout=timeout)
    finally:
        server_module.subprocess = subprocess
    # Published so that process-pool workers (which inherit os.environ) use this server instead of
    # each starting a temporary server of its own, one that would not die with this command.
    os.environ["PREFECT_API_URL"] = server.api_url
