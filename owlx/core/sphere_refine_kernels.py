"""Numba kernels of the full sphere refinement (spec/sphere.md §4.5): one pass over the fit
pixels gives JᵀJ, Jᵀr and Σr² of the model A·f(2π·q·s)² + b with the shift (dx, dy) applied in
pixel space before the q-map, or the residual and model sums for the quality outputs.

The pixels are walked in runs along rows (:attr:`owlx.core.sphere_pixels.FitPixels.runs`): q
and its derivatives for a run go to small buffers first, then one branch-free loop accumulates,
so both loops vectorise (the f² table lookups become gathers). Centres are offsets (cx, cy) [px]
from the array middle; x_c, y_c below are the beam's column/row as array indices.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from owlx.core.sphere import _q_of_radius


@njit(cache=True, nogil=True)
def _dq_dr(t, p_over_d):
    """d/dt of the q-map g(t) = 2 sin(½ atan(p t/D))·D/p: cos(½ atan τ)/(1 + τ²), τ = p t/D."""
    tau = t * p_over_d
    w = math.sqrt(1.0 + tau * tau)
    return math.sqrt(0.5 * (1.0 + 1.0 / w)) / (w * w)


# reassoc lets LLVM vectorise the sums over a run (gathers for the f² table); the order stays
# fixed for a given machine, so results are deterministic from run to run and thread to thread.
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, nogil=True)
def _axis_maps(nx, ny, k_ds, x_c, y_c, dx, dy, p_over_d):
    """Per-axis q-map g and its slope for every kept column (c·k_ds) and every row."""
    n_cols = (nx + k_ds - 1) // k_ds
    gx = np.empty(n_cols)
    gpx = np.empty(n_cols)
    gy = np.empty(ny)
    gpy = np.empty(ny)
    for c in range(n_cols):
        xx = c * k_ds - x_c - dx
        gx[c] = _q_of_radius(xx, p_over_d)
        gpx[c] = _dq_dr(xx, p_over_d)
    for r in range(ny):
        yy = r - y_c - dy
        gy[r] = _q_of_radius(yy, p_over_d)
        gpy[r] = _dq_dr(yy, p_over_d)
    return gx, gpx, gy, gpy


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _run_q(runs, si, k_ds, x_c, y_c, dx, dy, p_over_d, exact, maps, qb, qdx, qdy):
    """q and ∂q/∂dx, ∂q/∂dy of the pixels of run ``si`` into the buffers; returns (p0, n)."""
    gx, gpx, gy, gpy = maps
    row = runs[si, 0]
    c0 = runs[si, 1] // k_ds
    p0 = runs[si, 2]
    n = runs[si + 1, 2] - p0
    if exact:
        yy = row - y_c - dy
        xx0 = c0 * k_ds - x_c - dx
        for i in range(n):
            xx = xx0 + i * k_ds
            rr = math.sqrt(xx * xx + yy * yy)
            qb[i] = _q_of_radius(rr, p_over_d)
            gr = _dq_dr(rr, p_over_d) / rr if rr > 0 else 0.0
            qdx[i] = -gr * xx
            qdy[i] = -gr * yy
    else:
        qy = gy[row]
        gpy_r = gpy[row]
        gxs = gx[c0:c0 + n]
        gps = gpx[c0:c0 + n]
        for i in range(n):
            qx = gxs[i]
            q = math.sqrt(qx * qx + qy * qy)
            inv_q = 1.0 / q if q > 0 else 0.0
            qb[i] = q
            qdx[i] = -qx * gps[i] * inv_q
            qdy[i] = -qy * gpy_r * inv_q
    return p0, n


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def refine_pass(runs, y, sw, k_ds, x_c, y_c, dx, dy, nx, ny, p_over_d, exact, k, a, a_unit_fs,
                 t, b, coef, inv_h, jtj, jtr):
    """One pass over the fit pixels: JᵀJ (5×5) and Jᵀr (5) at x = [dx, dy, t, φ, b].

    ``runs`` as :attr:`FitPixels.runs`, ``k_ds`` the column step (downsampling), ``k`` = 2πs(d),
    ``a`` = A(F, d), ``a_unit_fs`` = ∂A/∂φ = A(F_s, d), ``t`` = d/d0. The background's row of
    JᵀJ is always filled (∂M/∂b = 1); the caller uses the leading 4×4 block without it.
    Returns (Σr², largest u = k·q met). Beyond the f² table its last piece is extrapolated: the
    caller then enlarges the table and repeats the pass.
    """
    maps = _axis_maps(nx, ny, k_ds, x_c, y_c, dx, dy, p_over_d)
    n_buf = maps[0].size
    qb = np.empty(n_buf)
    qdx = np.empty(n_buf)
    qdy = np.empty(n_buf)
    n_tab = coef.shape[0]
    # Scalar accumulators: in registers, and few enough (20) that the vectorised loop keeps
    # them there without spilling.
    h00 = h10 = h11 = h20 = h21 = h22 = h30 = h31 = h32 = h33 = 0.0
    h40 = h41 = h42 = h43 = h44 = 0.0
    g0 = g1 = g2 = g3 = g4 = s_rr = 0.0
    u_max = 0.0
    inv_t = 1.0 / t
    for si in range(runs.shape[0] - 1):
        p0, n = _run_q(runs, si, k_ds, x_c, y_c, dx, dy, p_over_d, exact, maps, qb, qdx, qdy)
        ys = y[p0:p0 + n]
        ws = sw[p0:p0 + n]
        # q grows with |xx| along a row, so a run's largest q is at one of its ends (a max()
        # inside the loop would stop it from vectorising).
        u_max = max(u_max, k * qb[0], k * qb[n - 1])
        for i in range(n):
            u = k * qb[i]
            # f² and its slope from the cubic table piece (inlined so the loop vectorises).
            tt = u * inv_h
            jj = min(int(tt), n_tab - 1)
            tt -= jj
            e0, e1, e2, e3 = coef[jj, 0], coef[jj, 1], coef[jj, 2], coef[jj, 3]
            m = e0 + tt * (e1 + tt * (e2 + tt * e3))
            dm = (e1 + tt * (2.0 * e2 + 3.0 * tt * e3)) * inv_h
            wi = ws[i]
            r = (a * m + b - ys[i]) * wi
            slope = a * dm * k * wi
            j0 = slope * qdx[i]
            j1 = slope * qdy[i]
            # A ∝ d⁶ and u ∝ d: ∂M/∂t = (6·A·m + A·u·dm/du)/t.
            j2 = (6.0 * a * m + a * u * dm) * inv_t * wi
            j3 = a_unit_fs * m * wi
            j4 = wi
            h00 += j0 * j0
            h10 += j1 * j0
            h11 += j1 * j1
            h20 += j2 * j0
            h21 += j2 * j1
            h22 += j2 * j2
            h30 += j3 * j0
            h31 += j3 * j1
            h32 += j3 * j2
            h33 += j3 * j3
            g0 += j0 * r
            g1 += j1 * r
            g2 += j2 * r
            g3 += j3 * r
            s_rr += r * r
            # The background's column is 1: its row of JᵀJ is ΣJ and its gradient Σr.
            h40 += j4 * j0
            h41 += j4 * j1
            h42 += j4 * j2
            h43 += j4 * j3
            h44 += j4 * j4
            g4 += j4 * r
    hs = (h00, h10, h11, h20, h21, h22, h30, h31, h32, h33, h40, h41, h42, h43, h44)
    n = 0
    for p in range(5):
        for p2 in range(p + 1):
            jtj[p, p2] = hs[n]
            jtj[p2, p] = hs[n]
            n += 1
    jtr[0], jtr[1], jtr[2], jtr[3], jtr[4] = g0, g1, g2, g3, g4
    return s_rr, u_max


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def residual_stats(runs, y, sw, k_ds, x_c, y_c, dx, dy, nx, ny, p_over_d, exact, k, a, b, coef,
                    inv_h, model_out):
    """[Σ(w·r)², Σ|r|, ΣM, ΣM², ΣM·y, Σy, Σy², Σ|y|] of the model M = a·f(kq)² + b at a shift,
    with ``sw`` the square roots of the weights; M per pixel goes to ``model_out`` (if sized)."""
    maps = _axis_maps(nx, ny, k_ds, x_c, y_c, dx, dy, p_over_d)
    n_buf = maps[0].size
    qb = np.empty(n_buf)
    qdx = np.empty(n_buf)
    qdy = np.empty(n_buf)
    n_tab = coef.shape[0]
    keep = model_out.size == y.size
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    for si in range(runs.shape[0] - 1):
        p0, n = _run_q(runs, si, k_ds, x_c, y_c, dx, dy, p_over_d, exact, maps, qb, qdx, qdy)
        for i in range(n):
            tt = k * qb[i] * inv_h
            jj = min(int(tt), n_tab - 1)
            tt -= jj
            m = coef[jj, 0] + tt * (coef[jj, 1] + tt * (coef[jj, 2] + tt * coef[jj, 3]))
            model = a * m + b
            v = y[p0 + i]
            r = model - v
            wr = r * sw[p0 + i]
            s0 += wr * wr
            s1 += abs(r)
            s2 += model
            s3 += model * model
            s4 += model * v
            s5 += v
            s6 += v * v
            s7 += abs(v)
            if keep:
                model_out[p0 + i] = model
    return np.array([s0, s1, s2, s3, s4, s5, s6, s7])
