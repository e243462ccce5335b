"""Settings round trips through an INI file, recent files, fresh mode and corrupt values."""

from __future__ import annotations

import dataclasses
import enum

import pytest

from owlx.gui.settings import (
    MAX_RECENT,
    SETTINGS_VERSION,
    AppSettings,
    RecentFiles,
    decode,
    recent_menu_entries,
)

from owlx.core.display import DisplaySettings, MaskSettings  # noqa: E402


def _first_value(field_default, alternatives):
    """A value different from the default, valid for the field (works with str or Enum norms)."""
    if isinstance(field_default, enum.Enum):
        return next(m for m in type(field_default) if m != field_default)
    return next(a for a in alternatives if a != field_default)


def changed_display() -> DisplaySettings:
    d = DisplaySettings()
    return dataclasses.replace(
        d,
        colormap=_first_value(d.colormap, ["viridis", "gray"]),
        invert_colormap=not d.invert_colormap,
        norm=_first_value(d.norm, ["linear", "log"]),
        gamma=0.5,
        lo=1.5,
        hi=98.0,
        clamp=not d.clamp,
    )


@pytest.fixture
def ini(tmp_path):
    return tmp_path / "owlx.ini"


def test_display_and_mask_round_trip(ini):
    s = AppSettings(ini)
    display = changed_display()
    mask = dataclasses.replace(MaskSettings(), out_bits=64, invert=True, colour=(255, 0, 128), opacity=0.5)
    s.set_display_settings(display)
    s.set_mask_settings(mask)
    s.sync()

    again = AppSettings(ini)
    assert again.display_settings(DisplaySettings) == display
    assert again.mask_settings(MaskSettings) == mask
    assert again.get("settingsVersion", 0) == SETTINGS_VERSION


def test_defaults_when_nothing_stored(ini):
    s = AppSettings(ini)
    assert s.display_settings(DisplaySettings) == DisplaySettings()
    assert s.mask_settings(MaskSettings) == MaskSettings()
    assert s.image_cache_mb() == 1024
    assert s.window_geometry() is None and s.dock_state() is None
    assert s.last_directory() == "" and s.png_folder() == ""
    assert s.recent.entries() == []


def test_window_paths_and_cache_round_trip(ini, tmp_path):
    s = AppSettings(ini)
    s.set_window_geometry(b"\x01\x02geometry\x00")
    s.set_dock_state(b"\x00\xffstate")
    s.set_image_cache_mb(2048)
    s.set_last_directory(tmp_path)
    s.set_png_folder(tmp_path)
    s.set("gallery/columns", 6)
    s.sync()
    again = AppSettings(ini)
    assert again.window_geometry() == b"\x01\x02geometry\x00"
    assert again.dock_state() == b"\x00\xffstate"
    assert again.image_cache_mb() == 2048
    assert again.last_directory() == str(tmp_path)
    assert again.png_folder() == str(tmp_path)
    assert again.get("gallery/columns", 4) == 6


def test_corrupt_values_fall_back_to_defaults(ini):
    ini.write_text(
        "[General]\nsettingsVersion=1\n"
        "[display]\ngamma=banana\nclamp=maybe\nhi=nan\nlo=2.5\ncolormap=gray\nunknownField=3\n"
        "[mask]\nout_bits=12.5\ncolour=[1, 2]\nopacity=0.25\n"
        "[cache]\nimageMB=-5\n"
        "[recentFiles]\nsize=3\n1\\path=\n2\\path=/somewhere/a.cxi\n2\\frame=oops\n3\\path=/somewhere/a.cxi\n"
    )
    s = AppSettings(ini)
    d = s.display_settings(DisplaySettings)
    assert d.gamma == DisplaySettings().gamma
    assert d.clamp == DisplaySettings().clamp
    assert d.hi == DisplaySettings().hi
    assert d.lo == 2.5 and d.colormap == "gray"  # the good values survive
    m = s.mask_settings(MaskSettings)
    assert m.out_bits == 5855 and m.colour == MaskSettings().colour and m.opacity == 0.25
    assert s.image_cache_mb() == 1024
    entries = s.recent.entries()  # the empty path and the duplicate are dropped
    assert [(e.path, e.frame) for e in entries] == [("/somewhere/a.cxi", 0)]


def test_value_validation_by_the_dataclass_is_respected(ini):
    @dataclasses.dataclass(frozen=True)
    class Checked:
        colormap: str = "inferno"
        gamma: float = 0.25

        def __post_init__(self):
            if self.colormap not in ("inferno", "gray"):
                raise ValueError(self.colormap)

    s = AppSettings(ini)
    s.set("checked/colormap", "no-such-map")
    s.set("checked/gamma", 0.75)
    assert s.get_dataclass("checked", Checked) == Checked(gamma=0.75)


def test_validate_method_and_combined_fields(ini):
    @dataclasses.dataclass
    class Levels:
        unit: str = "percentile"
        lo: float = 0.5
        hi: float = 99.5

        def validate(self):
            if self.unit not in ("percentile", "value"):
                raise ValueError(self.unit)
            if self.unit == "percentile" and not 0 <= self.lo < self.hi <= 100:
                raise ValueError("percentiles")
            if self.lo >= self.hi:
                raise ValueError("order")
            return self

    s = AppSettings(ini)
    # Valid only together: neither lo=1000 nor hi=5000 passes with the default unit.
    s.set_dataclass("levels", Levels("value", 1000.0, 5000.0))
    assert s.get_dataclass("levels", Levels) == Levels("value", 1000.0, 5000.0)
    s.set("levels/unit", "furlongs")  # rejected; the levels then fail alone too
    assert s.get_dataclass("levels", Levels) == Levels()
    s.set_dataclass("levels", Levels("percentile", 2.0, 99.5))
    s.set("levels/hi", 1.0)  # lo >= hi: only hi falls back
    assert s.get_dataclass("levels", Levels) == Levels("percentile", 2.0, 99.5)


def test_unreadable_file_gives_defaults(ini):
    ini.write_bytes(b"\xff\xfe\x00garbage[[[\n=\n")
    s = AppSettings(ini)
    assert s.display_settings(DisplaySettings) == DisplaySettings()


def test_fresh_reads_defaults_and_leaves_the_store_alone(ini):
    s = AppSettings(ini)
    s.set_display_settings(changed_display())
    s.recent.add(str(ini))
    s.sync()
    before = ini.read_bytes()

    fresh = AppSettings(ini, fresh=True)
    assert fresh.display_settings(DisplaySettings) == DisplaySettings()
    assert fresh.recent.entries() == []
    fresh.set_display_settings(dataclasses.replace(DisplaySettings(), gamma=0.9))
    assert fresh.display_settings(DisplaySettings).gamma == 0.9  # consistent within the run
    fresh.reset()
    fresh.sync()
    assert fresh.file_name != str(ini)
    assert ini.read_bytes() == before
    assert AppSettings(ini).display_settings(DisplaySettings) == changed_display()


def test_reset_clears_the_store(ini):
    s = AppSettings(ini)
    s.set_display_settings(changed_display())
    s.recent.add(str(ini))
    s.reset()
    again = AppSettings(ini)
    assert again.display_settings(DisplaySettings) == DisplaySettings()
    assert again.recent.entries() == []
    assert again.get("settingsVersion", 0) == SETTINGS_VERSION


def test_recent_limit_order_and_dedupe(ini, tmp_path):
    files = []
    for i in range(12):
        f = tmp_path / f"run_{i}.cxi"
        f.write_bytes(b"")
        files.append(f)
    recent = AppSettings(ini).recent
    for f in files:
        recent.add(f)
    paths = [e.path for e in recent.entries()]
    assert len(paths) == MAX_RECENT
    assert paths == [str(f) for f in reversed(files)][:MAX_RECENT]  # newest first
    # Re-adding an existing file (given as a relative path) moves it up, no duplicate.
    relative = (tmp_path / "sub" / ".." / "run_5.cxi")
    recent.add(relative, dataset="/entry_1/data_1/data", frame=46)
    entries = AppSettings(ini).recent.entries()
    assert [e.path for e in entries].count(str(files[5])) == 1
    assert entries[0].path == str(files[5])
    assert (entries[0].dataset, entries[0].frame) == ("/entry_1/data_1/data", 46)
    assert len(entries) == MAX_RECENT


def test_recent_remembers_dataset_and_frame(ini, tmp_path):
    a, b = tmp_path / "a.cxi", tmp_path / "b.cxi"
    a.write_bytes(b"")
    b.write_bytes(b"")
    recent = RecentFiles(AppSettings(ini))
    recent.add(a, dataset="/entry_1/image_1/data", frame=3)
    recent.add(b)
    assert recent.remember(a, frame=17)
    assert [e.path for e in recent.entries()] == [str(b), str(a)]  # not reordered
    assert recent.find(a).frame == 17 and recent.find(a).dataset == "/entry_1/image_1/data"
    recent.add(a)  # reopening from the menu keeps what was remembered
    assert recent.find(a).frame == 17 and recent.entries()[0].path == str(a)
    assert not recent.remember(tmp_path / "never.cxi", frame=1)
    recent.remove(b)
    assert [e.path for e in recent.entries()] == [str(a)]


def test_missing_files_flagged_and_clear(ini, tmp_path):
    present, gone = tmp_path / "here.cxi", tmp_path / "gone.cxi"
    present.write_bytes(b"")
    gone.write_bytes(b"")
    s = AppSettings(ini)
    s.recent.add(gone)
    s.recent.add(present)
    gone.unlink()
    assert [e.path for e in s.recent.missing()] == [str(gone)]
    menu = recent_menu_entries(s)
    assert menu[0] == ("&1 here.cxi", str(present), True)
    assert menu[1] == ("&2 gone.cxi (missing)", str(gone), False)
    s.recent.clear()
    assert recent_menu_entries(s) == []


def test_menu_labels_escape_and_disambiguate(ini, tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    s = AppSettings(ini)
    for p in (tmp_path / "x" / "run.cxi", tmp_path / "y" / "run.cxi", tmp_path / "R&D.cxi"):
        p.write_bytes(b"")
        s.recent.add(p)
    labels = [label for label, _, _ in recent_menu_entries(s)]
    assert labels == ["&1 R&&D.cxi", "&2 run.cxi — y", "&3 run.cxi — x"]


@pytest.mark.parametrize(
    "raw, default, expected",
    [
        ("true", False, True),
        ("0", True, False),
        ("maybe", True, True),
        ("12", 3, 12),
        ("1.5", 3, 3),
        ("1e-3", 0.5, 0.001),
        ("inf", 0.5, 0.5),
        ("[1, 2, 3]", (0, 0, 0), (1, 2, 3)),
        ("[1, \"a\", 3]", (0, 0, 0), (0, 0, 0)),
        ("not json", (0, 0, 0), (0, 0, 0)),
        (None, "inferno", "inferno"),
        ("{\"a\": 1}", {}, {"a": 1}),
    ],
)
def test_decode(raw, default, expected):
    assert decode(raw, default) == expected
