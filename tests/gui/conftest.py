"""Shared set-up of the GUI tests: Qt runs headless."""

import os

# Before any Qt import: the offscreen platform needs no display server (CI, ssh sessions).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
