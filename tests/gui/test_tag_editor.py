"""Tag editor and Tags panel (T1, T2, T8): add with palette colours, rename (duplicates
refused), recolour, delete with confirmation, reorder keeping members, counts that follow every
change, all undoable through session.tags."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt5 import QtCore, QtGui

import owlx
from owlx.gui.qt_jobs import QtJobRunner
from owlx.gui.tag_editor import COLOUR, NAME, NON_ASCII_TIP, TAGGED, UNFILTERED, TagEditor, TagTableWidget

from per_frame_files import GROUP, make_cxi

N = 40


@pytest.fixture
def session(tmp_path):
    return owlx.open(make_cxi(tmp_path / "hits.cxi", N, {"score": np.arange(N, dtype=float)}))


@pytest.fixture
def editor(qtbot, session):
    runner = QtJobRunner()
    dialog = TagEditor(session, runner)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    t = dialog.table
    t.messages = []
    t.warn = t.messages.append
    yield t  # (the fixture's frame keeps the dialog alive)


def row_texts(t: TagTableWidget) -> list[tuple[str, str, str]]:
    return [(t.table.item(r, NAME).text(), t.table.item(r, TAGGED).text(), t.table.item(r, UNFILTERED).text())
            for r in range(t.table.rowCount())]


def test_add_gives_tag_n_and_palette_colours_t2(editor, session, qtbot):
    qtbot.mouseClick(editor.add_button, QtCore.Qt.LeftButton)
    qtbot.mouseClick(editor.add_button, QtCore.Qt.LeftButton)
    assert session.tags.names == ("Tag 1", "Tag 2")
    assert session.tags.color(0) == (52, 102, 164) and session.tags.color(1) == (245, 121, 0)
    assert row_texts(editor) == [("Tag 1", "0", "0"), ("Tag 2", "0", "0")]
    assert editor.table.item(1, COLOUR).data(QtCore.Qt.UserRole) == (245, 121, 0)
    assert editor.current_row() == 1
    assert session.dirty


def test_rename_refuses_duplicates_and_empty_names(editor, session):
    editor.add_tag()
    editor.add_tag()
    editor.table.item(0, NAME).setText("fail")  # as the item editor does
    assert session.tags.names == ("fail", "Tag 2")
    editor.table.item(1, NAME).setText("fail")
    assert session.tags.names == ("fail", "Tag 2")
    assert "already exists" in editor.messages[-1]
    assert editor.table.item(1, NAME).text() == "Tag 2"  # the old name came back
    editor.table.item(1, NAME).setText("   ")
    assert "not empty" in editor.messages[-1] and session.tags.names[1] == "Tag 2"
    editor.table.item(1, NAME).setText("Größe")
    assert editor.table.item(1, NAME).toolTip() == NON_ASCII_TIP
    assert editor.table.item(0, NAME).toolTip() == ""
    session.tags.undo()
    assert session.tags.names == ("fail", "Tag 2") and editor.table.item(1, NAME).text() == "Tag 2"


def test_recolour_by_double_click_on_the_swatch(editor, session, qtbot):
    editor.add_tag()
    asked = []
    editor.choose_color = lambda initial: asked.append(initial.getRgb()[:3]) or QtGui.QColor(10, 20, 30)
    rect = editor.table.visualItemRect(editor.table.item(0, COLOUR))
    # an item view takes a double click only after the press of the same click
    qtbot.mouseClick(editor.table.viewport(), QtCore.Qt.LeftButton, pos=rect.center())
    qtbot.mouseDClick(editor.table.viewport(), QtCore.Qt.LeftButton, pos=rect.center())
    assert asked == [(52, 102, 164)]
    assert session.tags.color(0) == (10, 20, 30)
    assert editor.table.item(0, COLOUR).data(QtCore.Qt.UserRole) == (10, 20, 30)
    editor.choose_color = lambda initial: None  # cancelled
    assert not editor.recolor_tag(0)
    session.tags.undo()
    assert editor.table.item(0, COLOUR).data(QtCore.Qt.UserRole) == (52, 102, 164)


def test_delete_asks_when_the_tag_is_set_and_is_undoable(editor, session, qtbot):
    tags = session.tags
    tags.add("fail")
    tags.add("empty")
    tags.set_frames("fail", [1, 2, 3], True)
    questions = []
    editor.confirm = lambda q: questions.append(q) or False
    editor.select_row(0)
    qtbot.mouseClick(editor.delete_button, QtCore.Qt.LeftButton)
    assert questions == ["Delete tag 'fail' (set on 3 frames)?"]
    assert session.tags.names == ("fail", "empty")  # refused
    editor.confirm = lambda q: questions.append(q) or True
    assert editor.delete_tag(0)
    assert session.tags.names == ("empty",)
    assert editor.delete_tag(0)  # set on no frame: no question
    assert len(questions) == 2 and session.tags.names == ()
    assert editor.table.rowCount() == 0
    session.tags.undo()
    session.tags.undo()
    assert session.tags.names == ("fail", "empty")
    np.testing.assert_array_equal(session.tags.frames_with("fail"), [1, 2, 3])
    assert row_texts(editor) == [("fail", "3", "3"), ("empty", "0", "0")]


def test_counts_follow_toggles_filters_and_undo_t8(editor, session):
    tags = session.tags
    tags.add("fail")
    tags.add("good")
    tags.toggle("fail", 5)
    tags.toggle("fail", 30)
    assert row_texts(editor) == [("fail", "2", "2"), ("good", "0", "0")]
    session.add_range_filter(f"{GROUP}/score", hi=19)  # frames 0–19 shown
    assert row_texts(editor)[0] == ("fail", "2", "1")
    tags.set_frames("good", session.order, True)  # Shift+click: the display order only
    assert row_texts(editor)[1] == ("good", "20", "20")
    tags.undo()
    assert row_texts(editor)[1] == ("good", "0", "0")
    session.clear_filters()
    assert row_texts(editor)[0] == ("fail", "2", "2")


def test_move_keeps_members_and_colours(editor, session, qtbot):
    tags = session.tags
    tags.add("a")
    tags.add("b")
    tags.add("c")
    tags.toggle("c", 9)
    editor.select_row(2)
    qtbot.mouseClick(editor.up_button, QtCore.Qt.LeftButton)
    assert session.tags.names == ("a", "c", "b") and editor.current_row() == 1
    assert session.tags.has("c", 9) and session.tags.color("c") == (117, 80, 123)
    assert row_texts(editor)[1] == ("c", "1", "1")
    qtbot.mouseClick(editor.up_button, QtCore.Qt.LeftButton)
    assert session.tags.names == ("c", "a", "b") and not editor.up_button.isEnabled()
    assert editor.move_tag(0, +1) and session.tags.names == ("a", "c", "b")
    assert not editor.move_tag(2, +1)  # already last
    session.tags.undo()
    assert session.tags.names == ("c", "a", "b")


def test_panel_follows_a_new_file_and_the_embeddable_table(qtbot, session, tmp_path):
    panel = TagTableWidget(session)  # the Tags panel: the same table without the dialog
    qtbot.addWidget(panel)
    panel.show()
    session.tags.add("fail")
    assert row_texts(panel) == [("fail", "0", "0")]
    session.open(make_cxi(tmp_path / "other.cxi", 5, {}))  # session.tags is another object now
    assert panel.table.rowCount() == 0
    session.tags.add()
    session.tags.toggle(0, 4)
    assert row_texts(panel) == [("Tag 1", "1", "1")]
