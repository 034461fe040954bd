"""``Function.update_autoscaler(...)`` reaching running workers: at each registry beat the
supervisor re-reads its functions' stored specs and adopts their autoscaler settings
(``min_containers``, ``max_containers``, ``buffer_containers``, ``scaledown_window``), without
a restart. Everything else in the spec comes from the code the worker loaded.

A lowered ``max_containers`` applies to the next claims at once (the backend caps the calls
running across workers); executors above the new cap finish their calls and scale down.
A raised ``min_containers`` starts warm executors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from typing import Any

from chute.app import FunctionSpec
from chute.worker._scaling import FnState

FIELDS = ("min_containers", "max_containers", "buffer_containers", "scaledown_window")


class AutoscalerRefresh:
    def __init__(self, fns: list[FnState], env: str) -> None:
        self._env = env
        self._by_app: dict[str, list[FnState]] = {}
        for f in fns:
            self._by_app.setdefault(f.fn.app_name, []).append(f)

    def refresh(self, backend: Any) -> bool:
        """Adopt the stored autoscaler settings; whether any function's changed."""
        changed = False
        for app, fns in self._by_app.items():
            stored = {r.name: r.spec for r in backend.job_functions(self._env, app)}
            for f in fns:
                raw = stored.get(f.fn.name)
                if raw is None:
                    continue
                with contextlib.suppress(ValueError, TypeError, KeyError):
                    spec = FunctionSpec.from_json(raw)
                    new = {k: getattr(spec, k) for k in FIELDS}
                    if new != {k: getattr(f.spec, k) for k in FIELDS}:
                        f.spec = dataclasses.replace(f.spec, **new)
                        shown = ", ".join(f"{k}={v}" for k, v in new.items())
                        print(
                            f"chute worker: {f.key} autoscaler updated: {shown}", file=sys.stderr, flush=True
                        )
                        changed = True
        return changed
