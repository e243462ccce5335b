"""Readers and writers: files become Sources, Nodes and Stacks. No Qt here."""

from owlx.io.open import open_source

__all__ = ["open_source"]
