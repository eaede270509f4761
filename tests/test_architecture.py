"""The import rule: the package's layers, read from every import of every module with `ast`.

Layers, lowest first: the base modules (errors, config, warehouse, stats, environment, progress,
parallel), then
ingest, text, topics, personas, the report (with run_history), the stage runner
(persona_mining/pipeline.py) and the CLI. A module may import its own layer and the layers below,
never one above. The demo imports only base modules. Nothing under persona_mining/ imports
Prefect or `flows`, except that the CLI may import `flows` (it starts the flow).

Imports inside functions, under `if TYPE_CHECKING:` and through `importlib.import_module("...")`
count as much as those at the top of a module: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "persona_mining"

BASE_MODULES = ("errors", "config", "warehouse", "stats", "environment", "progress", "parallel")
# Rank of each part of the package: a module may import ranks up to its own, never above.
LAYERS: dict[str, int] = {
    **{name: 0 for name in BASE_MODULES},
    "ingest": 1,
    "text": 2,
    "topics": 3,
    "personas": 4,
    "report": 5,
    "run_history": 5,
    "demo": 6,  # an entry point's concern: no stage imports it
    "pipeline": 6,
    "cli": 7,
}
LAYER_NAMES = {
    0: "base",
    1: "ingest",
    2: "text",
    3: "topics",
    4: "personas",
    5: "report",
    6: "pipeline",
    7: "cli",
}
ORCHESTRATION = ("prefect", "flows")


@dataclass(frozen=True)
class Import:
    """One imported module, where it is imported."""

    path: Path
    line: int
    module: str


def module_name(path: Path, root: Path) -> str:
    """The dotted name of the module at `path` (a package's __init__ is the package)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str, root: Path) -> bool:
    """Whether `name` is a module or package found under `root`."""
    base = root.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(path: Path, root: Path) -> list[Import]:
    """Every module that the source at `path` imports, wherever in the file the import is."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(Import(path, node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                source = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                # `from persona_mining import warehouse` imports the module persona_mining.warehouse.
                candidate = f"{source}.{alias.name}"
                found.append(
                    Import(path, node.lineno, candidate if is_module(candidate, root) else source)
                )
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (
                    isinstance(node.func, ast.Name)
                    and node.func.id in ("import_module", "__import__")
                )
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append(Import(path, node.lineno, node.args[0].value))
    return found


def part_of(module: str) -> str | None:
    """The part of the package that `module` belongs to (None: outside the package)."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    return parts[1] if len(parts) > 1 else ""


def sources(root: Path) -> list[Path]:
    """Every Python file of the package under `root`."""
    return sorted((root / PACKAGE).rglob("*.py"))


def unplaced_modules(root: Path) -> list[str]:
    """Modules of the package that belong to no layer."""
    return [
        module_name(path, root)
        for path in sources(root)
        if part_of(module_name(path, root)) not in {*LAYERS, ""}
    ]


def layer_violations(root: Path) -> list[str]:
    """Imports of a higher layer, and imports by the demo of anything but a base module."""
    found: list[str] = []
    for path in sources(root):
        importer = part_of(module_name(path, root))
        if importer not in LAYERS and importer != "":
            continue  # reported by unplaced_modules
        rank = LAYERS.get(importer, 0)  # the package's own __init__ sits with the base
        for imported in imports_of(path, root):
            target = part_of(imported.module)
            if target is None or target == "" or target == importer:
                continue
            where = f"{path.relative_to(root)}:{imported.line}"
            if target not in LAYERS:
                found.append(f"{where}: imports {imported.module}, which belongs to no layer")
            elif importer == "demo" and LAYERS[target] != 0:
                found.append(f"{where}: the demo imports {imported.module}, not a base module")
            elif LAYERS[target] > rank:
                found.append(
                    f"{where}: {importer} ({LAYER_NAMES[rank]} layer) imports {imported.module} "
                    f"({LAYER_NAMES[LAYERS[target]]} layer, higher)"
                )
    return found


def orchestration_imports(root: Path) -> list[str]:
    """Imports of Prefect or `flows` from the library (the CLI may import `flows`)."""
    found: list[str] = []
    for path in sources(root):
        importer = part_of(module_name(path, root))
        for imported in imports_of(path, root):
            top = imported.module.split(".")[0]
            if top not in ORCHESTRATION or (top == "flows" and importer == "cli"):
                continue
            found.append(f"{path.relative_to(root)}:{imported.line}: imports {imported.module}")
    return found


def test_every_module_of_the_package_belongs_to_a_layer() -> None:
    assert unplaced_modules(ROOT) == [], "add the new module's part to LAYERS in this test"


def test_the_scan_reads_every_module_and_its_imports() -> None:
    # A scan that finds nothing would pass every rule: check that it sees the package.
    modules = {module_name(path, ROOT) for path in sources(ROOT)}
    assert {f"{PACKAGE}.{name}" for name in ("errors", "config", "warehouse", "cli")} <= modules
    imported = {i.module for path in sources(ROOT) for i in imports_of(path, ROOT)}
    assert {f"{PACKAGE}.errors", f"{PACKAGE}.warehouse", f"{PACKAGE}.config"} <= imported


def test_no_module_imports_a_higher_layer_and_the_demo_imports_only_base_modules() -> None:
    violations = layer_violations(ROOT)
    assert violations == [], "\n".join(violations)


def test_the_library_never_imports_prefect_or_flows() -> None:
    violations = orchestration_imports(ROOT)
    assert violations == [], "\n".join(violations)


# --------------------------------------------------------------------------- #
# The checker itself finds what it must                                       #
# --------------------------------------------------------------------------- #


def make_package(root: Path, files: dict[str, str]) -> Path:
    """A package tree under `root` with the given module sources (relative paths)."""
    for name in ("__init__.py", *files):
        path = root / PACKAGE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent != root / PACKAGE and not (path.parent / "__init__.py").exists():
            (path.parent / "__init__.py").write_text("", encoding="utf-8")
        path.write_text(files.get(name, ""), encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("topics/model.py", "from persona_mining.personas.segments import segment_id\n", "topics/model.py:1"),
        ("report/html.py", "def f():\n    from persona_mining.cli import app\n", "report/html.py:2"),
        ("text/embed.py", "from ..topics import model\n", "text/embed.py:1"),
        ("warehouse.py", "import persona_mining.ingest.load\n", "warehouse.py:1"),
        ("report/html.py", "def f():\n    from persona_mining import pipeline\n", "report/html.py:2"),
        ("demo/generate.py", "from persona_mining.text import cleaning\n", "demo/generate.py:1"),
        ("ingest/load.py", "import importlib\nimportlib.import_module('persona_mining.cli')\n", "ingest/load.py:2"),
    ],
)  # fmt: skip
def test_the_layer_check_reports_an_import_of_a_higher_layer(
    tmp_path: Path, module: str, source: str, expected: str
) -> None:
    root = make_package(
        tmp_path,
        {
            "personas/segments.py": "",
            "topics/model.py": "",
            "ingest/load.py": "",
            "text/cleaning.py": "",
            "pipeline.py": "",
            "cli.py": "",
        }
        | {module: source},
    )
    (violation,) = layer_violations(root)
    assert violation.startswith(f"{PACKAGE}/{expected}: ")


def test_the_layer_check_allows_lower_layers_and_the_same_package(tmp_path: Path) -> None:
    root = make_package(
        tmp_path,
        {
            "errors.py": "",
            "config.py": "from persona_mining.errors import ConfigError\n",
            "topics/model.py": "from persona_mining.text import embed\nfrom . import labels\n",
            "topics/labels.py": "",
            "text/embed.py": "from persona_mining import warehouse, config\n",
            "warehouse.py": "",
            "demo/generate.py": "from persona_mining.errors import ConfigError\n",
            "cli.py": "def run():\n    from flows.pipeline import persona_pipeline\n",
        },
    )
    assert layer_violations(root) == []
    assert orchestration_imports(root) == []


def test_the_orchestration_check_reports_prefect_anywhere_and_flows_outside_the_cli(
    tmp_path: Path,
) -> None:
    root = make_package(
        tmp_path,
        {
            "cli.py": "def url():\n    from prefect.settings import get_current_settings\n",
            "topics/model.py": "import flows.pipeline\n",
        },
    )
    assert orchestration_imports(root) == [
        f"{PACKAGE}/cli.py:2: imports prefect.settings",
        f"{PACKAGE}/topics/model.py:1: imports flows.pipeline",
    ]


def test_a_module_outside_every_layer_is_reported(tmp_path: Path) -> None:
    root = make_package(tmp_path, {"helpers.py": ""})
    assert unplaced_modules(root) == [f"{PACKAGE}.helpers"]
