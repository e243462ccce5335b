"""The layers of DESIGN.md: core <- io <- session/jobs <- gui <- plugins, checked two ways:
statically (every import statement of every module) and at run time (a fresh interpreter that
imports the headless layers must not load Qt)."""

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "owlx"

QT = ("PyQt5", "PyQt6", "PySide2", "PySide6", "pyqtgraph", "qtconsole", "qtpy")
FILE_LIBS = ("h5py", "hdf5plugin", "fabio", "mrcfile", "tifffile", "importlib.resources")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    package = ".".join(path.relative_to(PKG.parent).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # resolve relative imports against the module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names.add(mod)
            names.update(f"{mod}.{a.name}" for a in node.names)
    return names


def offenders(folder: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    bad = {}
    for path in sorted((PKG / folder).rglob("*.py")):
        hits = sorted(
            m for m in imported_modules(path) if any(m == f or m.startswith(f + ".") for f in forbidden)
        )
        if hits:
            bad[str(path.relative_to(PKG))] = hits
    return bad


def test_core_imports_no_qt_no_file_libraries_no_upper_layers():
    forbidden = QT + FILE_LIBS + ("owlx.io", "owlx.session", "owlx.jobs", "owlx.gui")
    assert offenders("core", forbidden) == {}


def test_io_imports_no_qt_and_no_upper_layers():
    assert offenders("io", QT + ("owlx.session", "owlx.jobs", "owlx.gui")) == {}


def test_session_and_jobs_import_no_qt():
    for name in ("session.py", "jobs.py", "frames.py"):
        hits = [m for m in imported_modules(PKG / name) if m.split(".")[0] in QT or m.startswith("owlx.gui")]
        assert hits == [], name


def test_headless_layers_do_not_load_qt_at_run_time():
    code = (
        "import sys, pkgutil, importlib, owlx, owlx.core, owlx.io\n"
        "for pkg in (owlx.core, owlx.io):\n"
        "    for m in pkgutil.iter_modules(pkg.__path__):\n"
        "        importlib.import_module(pkg.__name__ + '.' + m.name)\n"
        "import owlx.session, owlx.jobs, owlx.frames\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in %r]\n"
        "print(bad); sys.exit(1 if bad else 0)\n" % (QT,)
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


PLUGINS = PKG.parent / "plugins"


def test_plugin_contract_imports_no_qt():
    hits = [m for m in imported_modules(PKG / "plugin.py") if m.split(".")[0] in QT or m.startswith("owlx.gui")]
    assert hits == []


def test_plugins_see_a_context_not_the_main_window():
    """DESIGN.md: a panel receives a narrow context, never the main window."""
    window_modules = ("owlx.gui.main_window", "owlx.gui.window_", "owlx.gui.app")
    bad = {}
    for path in sorted(PLUGINS.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        mods = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        mods |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        hits = sorted(m for m in mods if m.startswith(window_modules))
        if hits:
            bad[str(path.relative_to(PLUGINS))] = hits
    assert bad == {}


def test_built_in_plugins_load_without_qt():
    """The CLI imports plugins for their commands: their package must not pull in Qt."""
    code = (
        "import sys\n"
        "from owlx.plugin import discover\n"
        "loaded = discover()\n"
        "failed = [(p.name, p.error) for p in loaded if p.plugin is None]\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in %r]\n"
        "print(failed, bad); sys.exit(1 if (failed or bad) else 0)\n" % (QT,)
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
