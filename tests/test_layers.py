"""The import rules of CONTRIBUTING.md: layers, imports at the top, a light cold path."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import neuratlas
from neuratlas.catalogue import WARM_UP_VAR

SRC = Path(neuratlas.__file__).parent
ROOT = SRC.parents[1]
# the comment that justifies an import inside a function (CONTRIBUTING.md)
TAGS = ("# heavy:", "# optional:")


def _function_level_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import statement inside a function of ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import):
                found += [(inner.lineno, alias.name) for alias in inner.names]
            elif isinstance(inner, ast.ImportFrom):
                found.append((inner.lineno, inner.module or ""))
    return sorted(set(found))


def _has_heavy_comment(lines: list[str], lineno: int) -> bool:
    # the comment sits on the import line or on the comment lines just above it,
    # possibly above a group of imports that share it
    index = lineno - 1
    if any(tag in lines[index] for tag in TAGS):
        return True
    index -= 1
    while index >= 0:
        text = lines[index].strip()
        if text.startswith("#"):
            if text.startswith(TAGS):
                return True
        elif not text.startswith(("import ", "from ")) and text:
            return False
        index -= 1
    return False


def test_every_import_inside_a_function_is_a_commented_heavy_dependency() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for lineno, module in _function_level_imports(path):
            if not _has_heavy_comment(lines, lineno):
                offenders.append(f"{path.relative_to(SRC)}:{lineno} imports {module}")
    message = "imports inside functions without a '# heavy:' or '# optional:' comment:\n"
    assert not offenders, message + "\n".join(offenders)


def test_the_heavy_comment_check_can_fail(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    import json\n\n\ndef g():\n    # heavy: costs a second\n    import csv\n"
        "\n\ndef h():\n    # why not\n    import os\n    x = 1\n    import re  # optional: extra\n"
    )
    lines = module.read_text().splitlines()
    verdicts = {m: _has_heavy_comment(lines, n) for n, m in _function_level_imports(module)}
    assert verdicts == {"json": False, "csv": True, "os": False, "re": True}


def test_a_region_lookup_imports_neither_numpy_nor_nibabel() -> None:
    # the catalogue's tree must load without the numeric stack: this keeps a cold
    # `get_region` at about 0.2 s (benchmarks/bench_core.py)
    code = (
        "import sys, neuratlas\n"
        "region = neuratlas.get_region('juelich', 'hIP1 left')\n"
        "assert region.parent is not None\n"
        "heavy = sorted(m for m in ('numpy', 'nibabel', 'scipy', 'pandas') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    quiet = {**os.environ, WARM_UP_VAR: "0"}  # no imports in the background either
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=quiet)
    assert done.returncode == 0, done.stderr


def test_a_loaded_catalogue_imports_the_numeric_stack_in_the_background() -> None:
    # the first map fetch after a lookup finds NumPy, nibabel and the map classes
    # imported, by a daemon thread that the lookup did not wait for
    code = (
        "import sys, neuratlas\n"
        "from neuratlas import catalogue\n"
        "region = neuratlas.get_region('juelich', 'hIP1 left')\n"
        "thread = catalogue.start_warm_up()\n"  # $NEURATLAS_PREIMPORT=1: as if interactive
        "assert thread is not None and thread.daemon\n"
        "thread.join(60)\n"
        "wanted = ('numpy', 'nibabel', 'neuratlas.core.maps')\n"
        "missing = [m for m in wanted if m not in sys.modules]\n"
        "assert not missing, missing\n"
        "assert neuratlas.get_map('juelich', 'mni152 nlin6').fetch(region='hIP1 left')\n"
    )
    env = {**os.environ, WARM_UP_VAR: "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr


def test_a_script_gets_no_background_imports_unless_it_asks() -> None:
    code = (
        "import sys, neuratlas\n"
        "from neuratlas import catalogue\n"
        "neuratlas.get_region('juelich', 'hIP1 left')\n"
        "assert catalogue.start_warm_up() is None\n"
        "assert 'numpy' not in sys.modules\n"
        "thread = catalogue.start_warm_up(force=True)\n"
        "thread.join(60)\n"
        "assert 'numpy' in sys.modules\n"
    )
    env = {k: v for k, v in os.environ.items() if k != WARM_UP_VAR}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    # and off means off, even when asked
    off = {**env, WARM_UP_VAR: "0"}
    code = "from neuratlas import catalogue\nassert catalogue.start_warm_up(force=True) is None\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=off)
    assert done.returncode == 0, done.stderr


def test_import_linter_contracts_are_kept() -> None:
    linter = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if linter is None:
        pytest.skip("import-linter is not installed (the dev extra has it)")
    done = subprocess.run(
        [linter, "--no-cache", str(ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "BROKEN" not in done.stdout
