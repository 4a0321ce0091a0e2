"""The architecture holds: the layer table of docs/architecture.md, no import cycle, sizes.

docs/architecture.md §Layers is the rule: every module belongs to the row whose name is its
longest prefix and may import its own row and the rows that row names; §Exceptions to the layers
lists the single modules allowed more. Every import counts, also one inside a function or under
``TYPE_CHECKING`` (``ast.walk`` sees them all). §Size and cycles: no import cycle between modules,
no module over 600 lines (migrations and tests aside), no function over 80 lines (issue #11).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "architecture.md"
# Our importable packages, and the folders of code the checks cover (benchmarks and scripts
# are run as files, never imported).
PACKAGES = ("card", "rig", "terminal", "settlement", "hospital_sim")
SCOPE = (*PACKAGES, "benchmarks", "scripts")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
# The settlement rules are pure (docs/architecture.md §Layers): no web, no database.
NOT_IN_RULES = ("fastapi", "starlette", "sqlalchemy", "sqlmodel", "httpx", "psycopg", "alembic")


def _is_migration(path: Path) -> bool:
    return "migrations" in path.relative_to(ROOT).parts


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def code_modules() -> dict[str, Path]:
    """Every Python module of ours in scope, by dotted name."""
    return {
        _module_name(path): path
        for top in SCOPE
        for path in sorted((ROOT / top).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _nearest_module(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(name: str, source: str, is_package: bool, modules: dict[str, Path]) -> set[str]:
    """The modules of ours that module ``name`` imports anywhere in ``source``.

    ``from X import n`` names the module ``X.n`` when there is one, else ``X``; a name that is
    not a module of ours resolves to its nearest enclosing module of ours (a package), and names
    outside our packages are dropped.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            candidates = [
                f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in modules else origin
                for alias in node.names
            ]
        else:
            continue
        for candidate in candidates:
            target = _nearest_module(candidate, modules)
            if target is not None and target != name:
                found.add(target)
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    return {
        name: imports_of(name, path.read_text(), path.name == "__init__.py", modules)
        for name, path in modules.items()
    }


@dataclass(frozen=True)
class Layers:
    rows: dict[str, tuple[str, ...]]  # layer -> the names it may import
    same_row: dict[str, frozenset[str]]  # layers written in one row are one layer
    exceptions: dict[str, tuple[str, ...]]  # module -> names it may import besides its row's

    def row_of(self, module: str) -> str | None:
        covering = [layer for layer in self.rows if _covers(layer, module)]
        return max(covering, key=len, default=None)

    def allows(self, source: str, target: str) -> bool:
        row = self.row_of(source)
        if row is None:
            return False
        if self.row_of(target) in self.same_row[row]:
            return True
        allowed = self.rows[row] + self.exceptions.get(source, ())
        return any(_covers(name, target) for name in allowed)


def _covers(name: str, module: str) -> bool:
    return module == name or module.startswith(name + ".")


_CODE = re.compile(r"`([^`]+)`")


def _dotted(text: str) -> str:
    """`card/__main__.py`, `settlement/rules/` and `settlement.rules` all name a dotted module."""
    text = text.strip().removesuffix(".py").strip("/")
    return text.replace("/", ".")


def _table_after(markdown: str, heading: str) -> list[list[str]]:
    """The rows (cells) of the first table under ``heading``, header and rule line dropped."""
    lines = markdown.splitlines()
    try:
        start = lines.index(heading)
    except ValueError:
        raise AssertionError(f"docs/architecture.md has no '{heading}' section") from None
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    assert len(rows) > 2, f"docs/architecture.md '{heading}' has no table"
    return rows[2:]


def parse_layers(markdown: str) -> Layers:
    """Read §Layers (layer | what | may import) and §Exceptions (module | may also import | why)."""
    rows: dict[str, tuple[str, ...]] = {}
    same_row: dict[str, frozenset[str]] = {}
    for cells in _table_after(markdown, "## Layers"):
        names = tuple(_dotted(n) for n in _CODE.findall(cells[0]))
        allowed = tuple(_dotted(n) for n in _CODE.findall(cells[-1]))
        assert names, f"a layer row names no module: {cells}"
        for layer in names:
            assert layer not in rows, f"layer {layer} appears twice in docs/architecture.md"
            rows[layer] = allowed
            same_row[layer] = frozenset(names)
    exceptions: dict[str, tuple[str, ...]] = {}
    for cells in _table_after(markdown, "## Exceptions to the layers"):
        (module,) = (_dotted(n) for n in _CODE.findall(cells[0]))
        exceptions[module] = tuple(_dotted(n) for n in _CODE.findall(cells[1]))
    return Layers(rows=rows, same_row=same_row, exceptions=exceptions)


def layer_violations(layers: Layers, graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{source} ({layers.row_of(source)}) imports {target} ({layers.row_of(target)})"
        for source, targets in sorted(graph.items())
        for target in sorted(targets)
        if not layers.allows(source, target)
    ]


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
    return cycles


def long_functions(path: Path) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]


# --- the checks on our code ---------------------------------------------------------------


def test_the_layer_table_covers_every_package_and_names_the_rig_exception():
    layers = parse_layers(ARCHITECTURE.read_text())
    assert set(SCOPE) <= set(layers.rows), "every top-level package has a row"
    assert layers.exceptions.get("card.__main__") == ("rig.cli",)
    assert layers.rows["card"] == ()
    assert set(layers.rows["settlement"]) & {"terminal", "hospital_sim", "rig"} == set()
    unplaced = [m for m in code_modules() if layers.row_of(m) is None]
    assert unplaced == []


def test_every_import_follows_the_layer_table():
    layers = parse_layers(ARCHITECTURE.read_text())
    assert layer_violations(layers, import_graph(code_modules())) == []


def _imported_names(source: str) -> set[str]:
    """Every absolute module name an ``import`` or ``from … import`` statement names."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_the_settlement_rules_import_no_web_and_no_database():
    found = [
        f"{module} imports {name}"
        for module, path in code_modules().items()
        if _covers("settlement.rules", module)
        for name in sorted(_imported_names(path.read_text()))
        if name.split(".")[0] in NOT_IN_RULES
    ]
    assert found == []


def test_no_import_cycle_between_modules():
    modules = {m: p for m, p in code_modules().items() if m.split(".")[0] in PACKAGES}
    assert import_cycles(import_graph(modules)) == []


def test_no_module_longer_than_600_lines():
    too_long = [
        f"{path.relative_to(ROOT)} ({n} lines)"
        for path in code_modules().values()
        if not _is_migration(path) and (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert too_long == []


def test_no_function_longer_than_80_lines():
    found = [f for p in code_modules().values() if not _is_migration(p) for f in long_functions(p)]
    assert found == []


# --- the checker itself finds what it must ------------------------------------------------

_TABLE = """# x
## Layers
| layer | what | may import |
|---|---|---|
| `card` | chip | — |
| `terminal` | front | `card` |
| `settlement.rules` | pure | — |
| `settlement.main`, `settlement.asgi` | entry | `settlement` |
| `settlement` | domain | `settlement.rules`, `card.crypto` |

## Exceptions to the layers
| module | may also import | why |
|---|---|---|
| `card/__main__.py` | `rig.cli` | entry point |
"""


def test_the_checker_reads_rows_longest_prefix_first_and_allows_what_the_table_says():
    layers = parse_layers(_TABLE)
    assert layers.row_of("settlement.rules.split") == "settlement.rules"
    assert layers.row_of("settlement.people") == "settlement"
    assert layers.allows("terminal.session", "card.sw")
    assert layers.allows("settlement.asgi", "settlement.main")  # one row, one layer
    assert layers.allows("settlement.people", "card.crypto")
    assert layers.allows("card.__main__", "rig.cli")
    assert not layers.allows("card.chip", "rig.cli")
    assert not layers.allows("card.chip", "terminal.apdu")
    assert not layers.allows("settlement.people", "card.issue")
    assert not layers.allows("settlement.people", "settlement.main")
    assert not layers.allows("settlement.rules.split", "settlement.people")
    assert not layers.allows("hospital_sim.day", "card")  # no row: refused


def test_the_checker_sees_function_local_type_checking_and_relative_imports():
    modules = dict.fromkeys(["card", "card.chip", "card.sw", "terminal", "terminal.apdu"], ROOT)
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import sw\n"
        "if TYPE_CHECKING:\n    from terminal import apdu\n"
        "def f():\n    import terminal.apdu.x\n    import os\n"
    )
    assert imports_of("card.chip", source, False, modules) == {"card.sw", "terminal.apdu"}
    violations = layer_violations(parse_layers(_TABLE), {"card.chip": {"card.sw", "terminal.apdu"}})
    assert violations == ["card.chip (card) imports terminal.apdu (terminal)"]


def test_the_checker_finds_a_cycle_and_no_cycle_in_a_chain():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


# --- the docs stand alone --------------------------------------------------------------------

_LINK = re.compile(r"\]\(([^)\s]+)\)")
_OUTSIDE = re.compile(r"`\.\./[^`]*`")


def _anchor(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_readme_and_docs_link_only_to_pages_inside_the_repository():
    """README.md and docs/*.md: every relative link and anchor resolves inside the repository."""
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text()
        broken += [f"{page.name}: {m}" for m in _OUTSIDE.findall(text)]
        for target in _LINK.findall(text):
            if target.startswith(("http://", "https://", "mailto:")):
                broken.append(f"{page.name}: {target} (outside the repository)")
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if ROOT not in resolved.parents or not resolved.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and resolved.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", resolved.read_text(), re.MULTILINE)
                if anchor not in {_anchor(h) for h in headings}:
                    broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []


_REPO_PATH = re.compile(
    r"`((?:card|rig|terminal|settlement|hospital_sim|benchmarks|scripts|tests|docs|\.ci)/[\w./-]*)`"
)


def test_files_the_docs_name_exist():
    """A newcomer follows the names in README.md and docs/*.md to the code: every file or folder
    written as a repository path (`card/chip.py`, `settlement/rules/`) exists."""
    missing = [
        f"{page.relative_to(ROOT)}: {name}"
        for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
        for name in _REPO_PATH.findall(page.read_text())
        if not (ROOT / name).exists()
    ]
    assert missing == []


def test_ci_runs_exactly_the_readmes_test_command():
    """One way to run things: .ci/run runs the README's second command, which runs the linter,
    the formatter check and the suite (scripts/test.sh)."""
    block = re.search(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert block is not None, "the README starts with a sh block of the two commands"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    ci = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert commands[1] == "bash scripts/test.sh" == ci[-1]
    script = (ROOT / "scripts" / "test.sh").read_text()
    for step in ("scripts/setup.sh", "ruff check", "ruff format --check", "pytest -q"):
        assert step in script
