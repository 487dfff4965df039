"""The blind order: which stimulus a listener hears under which neutral label, and in which order the trials come.

    blind_order("listener-7f3a", "e01", 4, seed="9c2e...")    # [2, 0, 3, 1]: the same every time for this listener
    stimulus_id("9c2e...", "e01", "model")                     # "5b1d0c..." : opaque, reveals no condition

Random but reproducible: each permutation is drawn from a generator seeded with a hash of the
test's seed, the listener id and what is being ordered, so a listener who reloads the page (or comes
back tomorrow) sees the same labels, and different listeners see different orders, which spreads
order effects over conditions (ITU-R BS.1534-3 asks for a randomised presentation per listener).
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

LISTENER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _generator(*parts: str) -> np.random.Generator:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def blind_order(listener_id: str, what: str, n: int, seed: str) -> list[int]:
    """A permutation of range(n) for this listener and `what` (a trial id, or "trials" for the trial order)."""
    return [int(i) for i in _generator("order", seed, listener_id, what).permutation(n)]


def stimulus_id(seed: str, excerpt: str, condition: str) -> str:
    """An opaque id for one stimulus file: a keyed hash, so neither the page nor a URL names the condition."""
    return hashlib.sha256(f"stimulus\x1f{seed}\x1f{excerpt}\x1f{condition}".encode()).hexdigest()[:20]


def valid_listener_id(listener_id: str) -> bool:
    return isinstance(listener_id, str) and bool(LISTENER_ID.match(listener_id))
