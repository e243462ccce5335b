"""The compute core of owlx: numpy in, numpy out.

Only numpy, scipy and numba (and cv2 for SIFT) are imported here: no Qt, no file access, no
globals. Every algorithm the GUI, the console, the CLI and batch jobs use lives in this package.
"""
