"""Griffe extension for the API reference: document ``dual(...)`` attributes as methods.

chute's public classes bind their operations as descriptors (``put = dual(ops.queue_put,
aops.queue_put, via="_ref")``, see ``chute/_dual.py``): the method's signature and docstring live
on the sync op, whose first parameter is the record the descriptor passes in. Static analysis sees
only an attribute, so this extension replaces each such attribute with a function carrying the
op's parameters (minus that first one), return annotation and docstring, labelled ``.aio`` when it
has an async twin.
"""

from __future__ import annotations

from typing import Any

import griffe

# descriptor name -> (drops the first parameter, label)
DESCRIPTORS = {
    "dual": (True, "has .aio"),
    "dual_iter": (True, "has .aio"),
    "static_dual": (False, "has .aio"),
}


class DualMethods(griffe.Extension):
    """Turn ``name = dual(sync_op, async_op, ...)`` class attributes into documented methods."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.name != "chute":
            return
        for module in _modules(pkg):
            for cls in module.classes.values():
                if not cls.is_alias:
                    self._convert(pkg, cls)

    def _convert(self, pkg: griffe.Module, cls: griffe.Class) -> None:
        for name, member in list(cls.members.items()):
            if member.is_alias or not isinstance(member, griffe.Attribute):
                continue
            call = member.value
            if not isinstance(call, griffe.ExprCall) or str(call.function) not in DESCRIPTORS:
                continue
            drop_first, label = DESCRIPTORS[str(call.function)]
            target = _resolve(pkg, call.arguments[0])
            if target is None:
                continue
            params = list(target.parameters)[1 if drop_first else 0 :]
            func = griffe.Function(
                name,
                lineno=member.lineno,
                endlineno=member.endlineno,
                parameters=griffe.Parameters(*params),
                returns=target.returns,
                docstring=griffe.Docstring(
                    target.docstring.value if target.docstring else "",
                    parser=target.docstring.parser if target.docstring else None,
                    parser_options=target.docstring.parser_options if target.docstring else None,
                ),
            )
            func.labels |= {label} | ({"staticmethod"} if not drop_first else set())
            cls.set_member(name, func)
            if func.docstring is not None:
                func.docstring.parent = func


def _modules(module: griffe.Module) -> list[griffe.Module]:
    found = [module]
    for sub in module.modules.values():
        if not sub.is_alias:
            found += _modules(sub)
    return found


def _resolve(pkg: griffe.Module, expr: Any) -> griffe.Function | None:
    path = getattr(expr, "canonical_path", None)
    if not isinstance(path, str) or not path.startswith("chute."):
        return None
    try:
        obj = pkg[path.removeprefix("chute.")]
    except (KeyError, griffe.AliasResolutionError):
        return None
    while obj.is_alias:
        obj = obj.final_target
    return obj if isinstance(obj, griffe.Function) else None
