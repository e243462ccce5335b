"""A writer process that grows an HDF5 file in SWMR mode, as Cheetah does during a beamtime.

    python swmr_writer_helper.py FILE START END INTERVAL_S GO_FILE

Creates FILE with START frames at ``/entry_1/image_1/data`` (frame i is ``i`` everywhere plus a
column ramp, so a reader can tell frames apart by pixel (0, 0) = i), a per-frame
``hit_score`` = 10·i and a shared mask, switches to SWMR mode and prints ``ready``. Once GO_FILE
exists it appends one frame (and its hit score) every INTERVAL_S seconds up to END frames,
flushing after each, prints ``done`` and exits.
"""

import os
import sys
import time

import h5py
import numpy as np

NY, NX = 16, 24


def frame(i: int) -> np.ndarray:
    return np.float32(i) + np.tile(np.arange(NX, dtype=np.float32) / 100, (NY, 1))


def main() -> None:
    path, start, end, interval, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    f = h5py.File(path, "w", libver="latest")
    data = f.create_dataset("entry_1/image_1/data", shape=(start, NY, NX), maxshape=(None, NY, NX),
                            chunks=(1, NY, NX), dtype=np.float32)
    data.attrs["axes"] = np.array([b"experiment_identifier:y:x"])
    data[:] = np.stack([frame(i) for i in range(start)])
    score = f.create_dataset("entry_1/image_1/hit_score", data=10.0 * np.arange(start), maxshape=(None,),
                             chunks=(64,))
    f["entry_1/image_1/mask_shared"] = np.zeros((NY, NX), np.uint16)
    f.swmr_mode = True
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            raise SystemExit("nobody started following the file")
        time.sleep(0.02)
    for i in range(start, end):
        time.sleep(interval)
        data.resize((i + 1, NY, NX))
        data[i] = frame(i)
        score.resize((i + 1,))
        score[i] = 10.0 * i
        f.flush()
    f.close()
    print("done", flush=True)


if __name__ == "__main__":
    main()
