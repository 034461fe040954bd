"""Each call runs on the code version it was submitted under (``chute worker --all``, issue 15).

A caller records the app's live code version (the bundle's sha256) in the call's options
header at submit (``call_ops.live_code``). Under ``chute worker --all`` every version has its
own pool (``_generic``), and every pool claims every call of its functions: the backend does
not filter claims by version. So a pool that claims a call of another version gives it back
at once (a release: no failure is counted) and asks the parent for that version's pool:

- it touches ``ROUTES/<hash>.want`` and sends the parent SIGUSR1, so the parent looks at the
  store now instead of at its next poll (a call made right after a redeploy runs the new code
  even before the worker noticed the redeploy);
- the parent starts a pool for a wanted version still in the app's record, and stops it once
  nobody wanted it for ``WANT_FRESH`` seconds; a version that is gone (collected, or never
  recorded) is marked ``ROUTES/<hash>.gone``, and then the live pool runs such calls itself;
- after giving a call back, the pool claims nothing for that function for ``HOLD`` seconds,
  so two pools of different versions do not pass calls back and forth in a tight loop.

Calls without a version (submitted by a local app, a schedule, or an older client) run on
whichever pool claims them.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from chute.backends.types import ClaimRequest
from chute.worker._fleet import Fleet, Outcome
from chute.worker._scaling import Attempt, FnState
from chute.worker._supervisor import Pool

HOLD = 0.5  # seconds a pool claims nothing for a function after giving back a call of it
WANT_FRESH = 10.0  # a version's extra pool stops when nobody wanted it for this long
_HASH = re.compile(r"[0-9a-f]{64}")


def routes_dir(root: Path, env: str, app: str) -> Path:
    """Where the pools of ``app`` in ``env`` leave their wants for the parent."""
    return root / quote(f"{env}/{app}", safe="")


class Router:
    """The child side: which versions this pool gives back, and telling the parent."""

    def __init__(self, folder: Path, code: str, nudge: bool) -> None:
        self.folder = folder
        self.code = code
        self.nudge = nudge
        self._told: dict[str, float] = {}
        folder.mkdir(parents=True, exist_ok=True)

    def runs_here(self, code: Any) -> bool:
        """Whether a call recorded under ``code`` runs on this pool's version."""
        if not isinstance(code, str) or code == self.code:
            return True  # no version (or a malformed one): any pool may run it
        if not _HASH.fullmatch(code):
            return True
        return (self.folder / f"{code}.gone").exists()  # no pool can have it: run it here

    def want(self, code: str) -> None:
        now = time.monotonic()
        if now - self._told.get(code, -WANT_FRESH) < 1.0:
            return
        self._told[code] = now
        (self.folder / f"{code}.want").touch()
        if self.nudge:
            with contextlib.suppress(OSError):
                os.kill(os.getppid(), signal.SIGUSR1)  # the parent looks now, not at its next poll


class VersionFleet(Fleet):
    """A fleet that gives back the calls of other versions instead of running them."""

    router: Router | None = None
    released: dict[str, float]

    def place(self, f: FnState, attempts: list[Attempt]) -> None:
        router = self.router
        if router is None:
            super().place(f, attempts)
            return
        own = []
        for a in attempts:
            code = a.options.get("code")
            if router.runs_here(code):
                own.append(a)
            else:
                self.outcomes.append(Outcome(a, "release"))
                self.released[f.key] = time.monotonic()
                router.want(str(code))
        if own:
            super().place(f, own)


class VersionPool(Pool):
    """The pool of one deployed version under ``chute worker --all``."""

    fleet_class = VersionFleet

    def __init__(self, *args: Any, code: str, routes: Path, nudge: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fleet = self._fleet
        assert isinstance(fleet, VersionFleet)
        fleet.router = Router(routes, code, nudge)
        fleet.released = {}
        self._versions = fleet

    def _claim_request(self, f: FnState, due: bool, probe: bool) -> ClaimRequest | None:
        if time.monotonic() - self._versions.released.get(f.key, -HOLD) < HOLD:
            return None  # it just gave a call back: let that version's pool take it
        return super()._claim_request(f, due, probe)
