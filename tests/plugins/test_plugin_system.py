"""The plugin contract: discovery through the `owlx.plugins` entry-point group, the Plugins menu,
panels built with a narrow context, and broken plugins that do not stop the application.

Test plugins are installed for real: a package and a ``*.dist-info`` folder with an
``entry_points.txt`` on ``sys.path``, which ``importlib.metadata`` finds like any installed one.
The README example is one of them, so the documentation cannot drift from the contract.
"""

from __future__ import annotations

import importlib
import re
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from owlx import plugin as plugin_registry
from owlx.gui.main_window import MainWindow
from owlx.gui.plugin_host import make_excepthook
from owlx.gui.settings import AppSettings

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_plugin_source() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Writing a plugin", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, "README has no python example under 'Writing a plugin'"
    return blocks[0]


def install_plugin(root: Path, package: str, source: str, entry: str, version: str = "1.0") -> None:
    """Write ``package/__init__.py`` and a dist-info declaring ``entry`` in `owlx.plugins`."""
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = root / f"{package}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[owlx.plugins]\n{entry}\n", encoding="utf-8")


BROKEN_IMPORT = "raise ImportError('needs the libfoo bindings, which are not installed')\n"
BROKEN_PANEL = """
from owlx.plugin import Panel, Plugin

def make_panel(ctx):
    raise RuntimeError("panel exploded")

plugin = Plugin(name="explosive", version="0.3", panels=(Panel("Explosive", make_panel),))
"""


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The README plugin, one that fails to import and one whose panel raises, installed."""
    root = tmp_path / "site"
    install_plugin(root, "brightest", readme_plugin_source(), "brightest = brightest:plugin")
    install_plugin(root, "owlx_broken", BROKEN_IMPORT, "broken = owlx_broken:plugin")
    install_plugin(root, "owlx_explosive", BROKEN_PANEL, "explosive = owlx_explosive:plugin", version="0.3")
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    plugin_registry.discover(refresh=True)
    yield root
    for name in ("brightest", "owlx_broken", "owlx_explosive"):
        sys.modules.pop(name, None)
    monkeypatch.undo()
    importlib.invalidate_caches()
    plugin_registry.discover(refresh=True)


def test_discover_loads_good_plugins_and_records_broken_ones(installed):
    found = {p.entry_point: p for p in plugin_registry.discover()}
    assert found["brightest"].plugin.version == "1.0"
    assert found["brightest"].module == "brightest"
    assert found["brightest"].plugin.panels[0].title == "Brightest pixel"
    broken = found["broken"]
    assert broken.plugin is None and "libfoo" in broken.error and "ImportError" in broken.details
    assert "brightest" in [p.name for p in plugin_registry.plugins()]
    assert "broken" not in [p.name for p in plugin_registry.plugins()]


def test_not_a_plugin_object_is_an_error(tmp_path, monkeypatch):
    install_plugin(tmp_path, "owlx_wrong", "plugin = 42\n", "wrong = owlx_wrong:plugin")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    try:
        loaded = {p.entry_point: p for p in plugin_registry.discover(refresh=True)}["wrong"]
        assert loaded.plugin is None and "not an owlx.plugin.Plugin" in loaded.error
    finally:
        sys.modules.pop("owlx_wrong", None)
        monkeypatch.undo()
        importlib.invalidate_caches()
        plugin_registry.discover(refresh=True)


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, installed, demo_file):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    w = MainWindow(settings=AppSettings(path=tmp_path / "owlx.ini"))
    w.ask_recovery = lambda text: False
    w.ask_unsaved = lambda: "discard"
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    assert w.open_path(str(demo_file), wait=True)
    qtbot.waitUntil(lambda: w.current is not None, timeout=20000)
    yield w
    w.ask_unsaved = lambda: "discard"
    w.jobs.wait(20000)
    w.close()


def menu_texts(menu) -> list[str]:
    texts = []
    for action in menu.actions():
        texts.append(action.text())
        if action.menu() is not None:
            texts += ["  " + t for t in menu_texts(action.menu())]
    return texts


def test_plugins_menu_lists_versions_and_failures(window):
    texts = menu_texts(window.plugins_menu)
    assert "Brightest pixel" in texts
    assert "  brightest 1.0 (brightest)" in texts
    assert "broken — failed to load" in texts
    assert any(t.startswith("  broken ?") and t.endswith("failed") for t in texts)
    # the failure reached the error indicator with its reason
    summaries = [s for s, _ in window.error_indicator.errors]
    assert any("broken" in s and "libfoo" in s for s in summaries)


def test_readme_plugin_runs_its_job_and_draws_on_the_image(window, qtbot, open_panel):
    frame = window.session.frame().astype(float)
    row, col = np.unravel_index(np.argmax(frame), frame.shape)
    panel = open_panel(window, "Brightest pixel")
    from PyQt5 import QtWidgets

    button = panel.findChild(QtWidgets.QPushButton)
    label = panel.findChild(QtWidgets.QLabel)
    button.click()
    qtbot.waitUntil(lambda: label.text().startswith("max"), timeout=10000)
    assert label.text() == f"max {frame[row, col]:g} at row {row}, col {col}"
    overlay = window.plugin_contexts["brightest"].overlays["max"]
    assert overlay.n_circles == 1 and overlay.visible
    xs, ys = overlay.circles.getData()
    # a circle of radius 6 around the pixel centre (col + 0.5, row + 0.5) in scene coordinates
    assert np.nanmean(xs[:-1]) == pytest.approx(col + 0.5, abs=0.2)
    assert np.nanmax(ys) == pytest.approx(row + 0.5 + 6, abs=0.05)
    # opening it again shows the same dock, not a second one
    assert open_panel(window, "Brightest pixel") is panel


def test_a_panel_that_raises_is_reported_and_the_window_goes_on(window, qtbot):
    assert window.open_plugin_panel("Explosive") is None
    assert "Explosive" not in window.plugin_docks
    assert window.plugin_actions["Explosive"].text() == "Explosive — failed"
    assert any("panel exploded" in s for s, _ in window.error_indicator.errors)
    before = window.session.frame_index
    window.session.next()
    qtbot.waitUntil(lambda: window.current is not None and window.current.index == before + 1, timeout=10000)


def test_an_exception_in_a_plugin_slot_is_reported_with_the_plugin_name(window):
    import brightest

    try:
        brightest.brightest_pixel(None)  # raises inside the plugin module
    except TypeError:
        exc_type, exc, tb = sys.exc_info()
    hook = make_excepthook(window)
    hook(exc_type, exc, tb)
    summary, details = window.error_indicator.errors[-1]
    assert summary.startswith("plugin brightest: ")
    assert "brightest_pixel" in details


def test_owlx_plugins_lists_versions_and_failures(installed, capsys):
    from owlx.cli import main

    assert main(["plugins"]) == 1  # one failed
    out = capsys.readouterr().out.splitlines()
    assert any(line.split()[:4] == ["brightest", "1.0", "brightest:", "panels:"] for line in out)
    assert any(line.startswith("broken") and "failed to load: ImportError" in line for line in out)


def test_plugin_command_runs_as_an_owlx_subcommand(tmp_path, monkeypatch, capsys):
    source = """
    from owlx.plugin import Command, Plugin

    def configure(parser):
        parser.add_argument("n", type=int)

    def run(args):
        print("squared", args.n ** 2)
        return 0

    plugin = Plugin(name="squarer", version="2.0", commands=(Command("square", "square a number", configure, run),))
    """
    install_plugin(tmp_path, "owlx_squarer", source, "squarer = owlx_squarer:plugin")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    plugin_registry.discover(refresh=True)
    try:
        from owlx.cli import main

        assert main(["square", "7"]) == 0
        assert "squared 49" in capsys.readouterr().out
    finally:
        sys.modules.pop("owlx_squarer", None)
        monkeypatch.undo()
        importlib.invalidate_caches()
        plugin_registry.discover(refresh=True)


def test_a_plugin_reader_opens_files_of_its_extension(tmp_path, monkeypatch):
    """A Reader opens the extensions no built-in reader knows, in scripts, the GUI and owlx info."""
    source = """
    import numpy as np
    from owlx.io.memory import ArraySource
    from owlx.plugin import Plugin, Reader

    def open_raw(path):
        data = np.fromfile(path, dtype="<u2")
        return ArraySource(data.reshape(-1, 4, 5), name="raw16")

    plugin = Plugin(name="raw16", version="0.1", readers=(Reader("raw16", (".r16",), open_raw),))
    """
    install_plugin(tmp_path, "owlx_raw16", source, "raw16 = owlx_raw16:plugin")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    plugin_registry.discover(refresh=True)
    try:
        frames = np.arange(3 * 20, dtype="<u2").reshape(3, 4, 5)
        frames.tofile(tmp_path / "run.r16")
        import owlx

        s = owlx.open(str(tmp_path / "run.r16"))
        assert s.n_frames == 3
        np.testing.assert_array_equal(s.frame(2), frames[2])
        (tmp_path / "broken.r16").write_bytes(bytes(6))  # 3 values: the plugin reshape raises ValueError
        with pytest.raises(owlx.FileFormatError, match="raw16 reader"):
            owlx.open(str(tmp_path / "broken.r16"))
        with pytest.raises(owlx.FileFormatError):  # an extension nobody claims
            (tmp_path / "x.unknown").write_bytes(b"123")
            owlx.open(str(tmp_path / "x.unknown"))
    finally:
        sys.modules.pop("owlx_raw16", None)
        monkeypatch.undo()
        importlib.invalidate_caches()
        plugin_registry.discover(refresh=True)
