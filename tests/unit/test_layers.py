"""The import layers, held by a test: who may import whom.

* ``agentfleet_runtime.brain`` does no I/O: it imports no I/O library and none of the
  runtime's adapter packages.
* ``agentfleet_operator`` imports from the runtime only ``agentfleet_runtime.contract`` and
  ``agentfleet_runtime.retry``.
* ``agentfleet_runtime`` never imports ``agentfleet_sandbox``.

Imports are read from the source with :mod:`ast`, so nothing is executed, and they count
wherever they are written (inside a function, under ``TYPE_CHECKING``). They also count
through our own modules: if the brain imports a module of ours that imports ``redis``, the
brain imports ``redis``. A failure names each offending import, its file and line, and the
chain of our modules that leads to it.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE_FOLDERS = ("runtime", "sandbox", "operator")

IO_LIBRARIES = ("redis", "asyncpg", "discord", "google.genai", "aiohttp", "prometheus_client")
# What in the runtime talks to the world or wires it together; the brain may still use the
# contract and the pure near-duplicate code (agentfleet_runtime.dedup).
RUNTIME_ADAPTERS = tuple(
    f"agentfleet_runtime.{package}"
    for package in (
        "app",
        "bus",
        "cli",
        "config",
        "discord",
        "doctor",
        "llm",
        "memory",
        "observability",
        "pipeline",
    )
)
OPERATOR_MAY_USE = ("agentfleet_runtime.contract", "agentfleet_runtime.retry")


@dataclass(frozen=True)
class Import:
    """One name an import statement brings in, e.g. ``redis.asyncio`` or ``a.b.Name``."""

    name: str
    where: str
    """``path:line`` of the statement."""


def is_within(name: str, packages: tuple[str, ...]) -> bool:
    """Whether ``name`` is one of ``packages`` or inside one of them."""
    return any(name == p or name.startswith(p + ".") for p in packages)


@cache
def our_modules() -> dict[str, Path]:
    """Every module of the three packages, by dotted name."""
    modules = {}
    for folder in SOURCE_FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


@cache
def imports_of(module: str) -> tuple[Import, ...]:
    """What ``module``'s own source imports, relative imports resolved."""
    path = our_modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        where = f"{path.relative_to(ROOT)}:{node.lineno}"
        if isinstance(node, ast.Import):
            found += [Import(alias.name, where) for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from a import b` may bring in the module a.b or the name b of a: keep a.b, which
            # is inside a either way.
            found += [Import(f"{base}.{alias.name}", where) for alias in node.names]
    return tuple(found)


def our_module_of(name: str) -> str | None:
    """The module of ours that importing ``name`` loads (the longest matching one)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in our_modules():
            return ".".join(parts[:end])
    return None


def reachable_imports(
    start: str, forbidden: Callable[[str], bool]
) -> Iterator[tuple[Import, tuple[str, ...]]]:
    """Every import made by ``start`` or by a module of ours it loads, with the chain.

    Breadth first, so each module is reached by its shortest chain. A forbidden import is
    reported and not followed: what it imports in turn is not the importer's doing.
    """
    seen = {start}
    pending = deque([(start, (start,))])
    while pending:
        module, chain = pending.popleft()
        for found in imports_of(module):
            yield found, chain
            loaded = None if forbidden(found.name) else our_module_of(found.name)
            # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
            while loaded:
                if loaded not in seen:
                    seen.add(loaded)
                    pending.append((loaded, (*chain, loaded)))
                loaded = loaded.rpartition(".")[0]


def violations(packages: tuple[str, ...], forbidden: Callable[[str], bool]) -> list[str]:
    """Each forbidden import reachable from ``packages``' modules, once, by its shortest chain."""
    chains: dict[Import, tuple[str, ...]] = {}
    for module in our_modules():
        if not is_within(module, packages):
            continue
        for imported, chain in reachable_imports(module, forbidden):
            if not forbidden(imported.name):
                continue
            shortest = chains.get(imported)
            if shortest is None or len(chain) < len(shortest):
                chains[imported] = chain
    return [
        f"{found.where} imports {found.name}"
        + (f" (via {' → '.join(chain)})" if len(chain) > 1 else "")
        for found, chain in sorted(chains.items(), key=lambda item: item[0].where)
    ]


def test_the_sources_are_found() -> None:
    modules = our_modules()
    assert "agentfleet_runtime.brain.router" in modules
    assert "agentfleet_operator" in modules
    assert "agentfleet_sandbox.gemini_server" in modules


def test_brain_does_no_io() -> None:
    def io(name: str) -> bool:
        return is_within(name, IO_LIBRARIES + RUNTIME_ADAPTERS)

    offending = violations(("agentfleet_runtime.brain",), io)
    assert not offending, "agentfleet_runtime.brain must do no I/O:\n" + "\n".join(offending)


def test_operator_uses_only_the_runtime_contract() -> None:
    def beyond_the_contract(name: str) -> bool:
        return is_within(name, ("agentfleet_runtime",)) and not is_within(name, OPERATOR_MAY_USE)

    offending = violations(("agentfleet_operator",), beyond_the_contract)
    assert not offending, (
        f"agentfleet_operator may import from the runtime only {', '.join(OPERATOR_MAY_USE)}:\n"
        + "\n".join(offending)
    )


def test_runtime_never_imports_the_sandbox() -> None:
    def sandbox(name: str) -> bool:
        return is_within(name, ("agentfleet_sandbox",))

    offending = violations(("agentfleet_runtime",), sandbox)
    assert not offending, "agentfleet_runtime must not import the sandbox:\n" + "\n".join(offending)
