"""``owlx tags FILE [--export tags.csv]``: list a file's tags with counts, or export them.

The tags are those owlx shows: the data file's ``<result group>/tags`` merged with its sidecar
(formats.md §2.7). ``FILE::/dataset/path`` picks the image dataset (default: the one shown on
open). ``--export`` writes a CSV with the frame index and one 0/1 column per tag.
"""

from __future__ import annotations

import argparse
import csv
import os


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="owlx tags", description="List a file's tags (merged with its sidecar).")
    p.add_argument("file", help="data file, optionally FILE::/dataset/path")
    p.add_argument("--export", metavar="CSV", help="write frame index + one 0/1 column per tag to CSV")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)

    from .errors import OwlxError
    from .io.open import open_source
    from .io.results import load_tags

    path, _, dataset = args.file.partition("::")
    with open_source(path) as source:
        target = dataset or source.default_stack_path()
        if target is None:
            raise OwlxError(f"'{os.path.basename(path)}' has no image dataset, so it has no tags")
        stack = source.stack(target)
        n = len(stack)
        loaded = load_tags(source, stack.path, n)
    table = loaded.table
    for w in loaded.warnings:
        print(f"warning: {w}")
    where = f"{loaded.group.rstrip('/')}/tags"
    side = f"; merged with {os.path.basename(loaded.sidecar)}" if loaded.sidecar else ""
    print(f"{where}: {table.n_tags} tag(s) over {n} frames{side}")
    if table.n_tags:
        width = max(len(name) for name in table.names)
        counts = table.members.sum(axis=1)
        for i, (name, rgb, count) in enumerate(zip(table.names, table.colors, counts), start=1):
            color = "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgb))
            print(f"{i:3d}  {name:<{width}}  {color}  {int(count):>8d}")
    if args.export:
        _export_csv(args.export, table.names, table.members)
        print(f"wrote {args.export}")
    return 0


def _export_csv(path: str, names: list[str], members) -> None:
    try:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["frame", *names])
            for frame, row in enumerate(members.T.astype(int)):
                writer.writerow([frame, *row.tolist()])
    except OSError as err:
        from .errors import OwlxError

        raise OwlxError(f"cannot write '{path}': {err.strerror or err}") from err
