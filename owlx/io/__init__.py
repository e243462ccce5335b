"""Readers and writers: files become Sources, Nodes and Stacks. No Qt here."""
