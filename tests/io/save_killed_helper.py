"""Start a big tag save and SIGKILL this process in the middle of writing it.

    python save_killed_helper.py FILE STEP

Opens FILE with owlx, adds 20 tags set on ~30 % of the frames each, and saves; the save's
progress callback kills the process with SIGKILL once STEP steps of the plan have run, so the
kill lands between two HDF5 writes of one save (tests/io/test_save.py). Prints the number of
steps of the plan first.
"""

import os
import signal
import sys

import numpy as np

import owlx


def main() -> None:
    path, kill_at = sys.argv[1], int(sys.argv[2])
    session = owlx.open(path)
    rng = np.random.default_rng(0)
    for k in range(20):
        session.tags.add(f"new{k}")
        session.tags.set_frames(f"new{k}", np.flatnonzero(rng.random(session.n_frames) < 0.3), True)

    def progress(done: int, total: int) -> None:
        if done == 1:
            print(total, flush=True)
        if done == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    session.save(progress=progress)
    print("finished without being killed", flush=True)


if __name__ == "__main__":
    main()
