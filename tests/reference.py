"""Reference implementations the tests compare hyperkit against.

Each one evaluates the definition directly, in float64 numpy (or plain Python loops),
with no hyperkit kernel on its path: explicit LCN windows (eq. 4), window reductions for
min+max pooling, patches sliced by hand, hyper-images built point by point, the
correlation coefficients from their definitions and the training objectives' formulas.
Where a reference needs grid offsets it takes them from
:func:`hyperkit.grid_positions`, which tests/test_grid.py checks on its own.
"""

import math

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn

import hyperkit

# ---------------------------------------------------------------------------- LCN


def reference_lcn(x, radius=3, sigma=7 / 6, eps=1 / 255, planes_per_chunk=4096):
    """Eq. 4 with explicit (2r+1)^2 windows, in float64, edge-replicated borders.

    Planes (every leading index) are independent; they are processed in chunks so that
    inputs with many planes (e.g. (70000, 2, 3)) stay small in memory.
    """
    x = np.asarray(x, dtype=np.float64)
    k = np.arange(-radius, radius + 1)
    w = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (2 * sigma**2))
    w /= w.sum()
    flat = x.reshape(-1, *x.shape[-2:])
    out = np.empty_like(flat)
    for i in range(0, len(flat), planes_per_chunk):
        p = flat[i:i + planes_per_chunk]
        padded = np.pad(p, [(0, 0), (radius, radius), (radius, radius)], mode="edge")
        win = sliding_window_view(padded, w.shape, axis=(-2, -1))
        mu = (win * w).sum(axis=(-2, -1))
        sd = np.sqrt((w * (win - mu[..., None, None]) ** 2).sum(axis=(-2, -1)))
        out[i:i + planes_per_chunk] = (p - mu) / (sd + eps)
    return out.reshape(x.shape)


# ------------------------------------------------------------------ min+max pooling


def reference_minmax(x, k=None, s=None):
    """(max, min, argmax, argmin) of every window, argmax/argmin as flat input indices
    into each H x W plane, the first winner (row-major) on ties."""
    x = np.asarray(x, dtype=np.float64)
    n, c, h, w = x.shape
    kh, kw = (h, w) if k is None else k
    sh, sw = (kh, kw) if s is None else s
    win = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    flat = win.reshape(*win.shape[:4], kh * kw)
    oh, ow = win.shape[2:4]
    base = (np.arange(oh)[:, None] * sh * w + np.arange(ow)[None, :] * sw)

    def to_input(a):
        return base + (a // kw) * w + a % kw

    return (flat.max(-1), flat.min(-1), to_input(flat.argmax(-1)), to_input(flat.argmin(-1)))


def reference_minmax_grad(x, k, s, grad_max, grad_min):
    """The input gradient of sum(max * grad_max + min * grad_min): each output's
    gradient goes to its window's first winner, accumulated where windows overlap."""
    x = np.asarray(x, dtype=np.float64)
    shape = x.shape
    _, _, amx, amn = reference_minmax(x, k, s)
    gmx, gmn = np.asarray(grad_max), np.asarray(grad_min)
    expect = np.zeros(shape).reshape(shape[0], shape[1], -1)
    for i in range(shape[0]):
        for j in range(shape[1]):
            np.add.at(expect[i, j], amx[i, j].ravel(), gmx[i, j].ravel())
            np.add.at(expect[i, j], amn[i, j].ravel(), gmn[i, j].ravel())
    return expect.reshape(shape)


def reference_grid_minmax(x, k, rows, cols):
    """(max, min, argmax, argmin) of the k = (kh, kw) window at (rows[u], cols[v]) of every
    (N, C, H, W) plane, each (N, C, U, V); arg* are flat input indices, the first winner
    (row-major) on ties."""
    x = np.asarray(x, dtype=np.float64)
    n, c, _, w = x.shape
    kh, kw = k
    shape = (n, c, len(rows), len(cols))
    mx, mn = np.empty(shape), np.empty(shape)
    amx, amn = np.empty(shape, np.int64), np.empty(shape, np.int64)
    for u, r in enumerate(rows):
        for v, q in enumerate(cols):
            win = x[:, :, r:r + kh, q:q + kw].reshape(n, c, -1)
            a, b = win.argmax(-1), win.argmin(-1)
            mx[:, :, u, v], mn[:, :, u, v] = win.max(-1), win.min(-1)
            amx[:, :, u, v] = (r + a // kw) * w + q + a % kw
            amn[:, :, u, v] = (r + b // kw) * w + q + b % kw
    return mx, mn, amx, amn


def reference_grid_minmax_grad(x, k, rows, cols, grad_max, grad_min):
    """The input gradient of sum(max * grad_max + min * grad_min) for grid windows."""
    shape = np.shape(x)
    _, _, amx, amn = reference_grid_minmax(x, k, rows, cols)
    expect = np.zeros(shape).reshape(shape[0], shape[1], -1)
    gmx, gmn = np.asarray(grad_max), np.asarray(grad_min)
    for i in range(shape[0]):
        for j in range(shape[1]):
            np.add.at(expect[i, j], amx[i, j].ravel(), gmx[i, j].ravel())
            np.add.at(expect[i, j], amn[i, j].ravel(), gmn[i, j].ravel())
    return expect.reshape(shape)


# ------------------------------------------------------------------ patch gathering


def by_hand(images, ph, pw, u, v):
    """The U x V grid patches of (C, H, W) images sliced one by one, ordered image,
    row u, column v."""
    out = []
    for im in images:
        ys = hyperkit.grid_positions(im.shape[1], ph, u)
        xs = hyperkit.grid_positions(im.shape[2], pw, v)
        for y in ys:
            for x in xs:
                out.append(np.asarray(im)[:, y:y + ph, x:x + pw])
    return np.stack(out)


def by_hand_at(images, ph, pw, index, ys, xs):
    """Patch q sliced from images[index[q]] at top-left (ys[q], xs[q])."""
    return np.stack([np.asarray(images[n])[:, y:y + ph, x:x + pw]
                     for n, y, x in zip(index, ys, xs)])


def grid_cells_by_hand(heights, widths, patch, grid, first, count):
    """(index, ys, xs) of grid patches first..first+count-1, by enumerating every
    (image, u, v) in order and keeping the requested range."""
    (ph, pw), (u, v) = patch, grid
    cells = []
    for n, (h, w) in enumerate(zip(heights, widths)):
        ys = hyperkit.grid_positions(h, ph, u)
        xs = hyperkit.grid_positions(w, pw, v)
        for i in range(u):
            for j in range(v):
                cells.append((n, ys[i], xs[j]))
    cells = cells[first:first + count]
    cols = list(zip(*cells)) if cells else [(), (), ()]
    return tuple(np.array(c, dtype=np.int64) for c in cols)


# -------------------------------------------------------------------- hyper-images


def tiny_stage1(channels=3, patch=16, d=5):
    """A small float64 stage 1 mapping (P, C, patch, patch) to ReLU features (P, d)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(channels, 4, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * (patch - 2) ** 2, d), nn.ReLU()).double()


def as_double(stage1):
    return lambda p: stage1(p.double())


def expected_hyperimage(image_chw, stage1, patch, u, v, normalize=True):
    """(D, U, V): stage1 applied to each grid patch of one (C, H, W) tensor, cut by hand
    from the (optionally LCN-normalized) image, one patch at a time."""
    x = hyperkit.lcn(image_chw) if normalize else image_chw
    ys = hyperkit.grid_positions(x.shape[1], patch, u)
    xs = hyperkit.grid_positions(x.shape[2], patch, v)
    out = torch.empty(stage1[-2].out_features, u, v, dtype=torch.float64)
    with torch.no_grad():
        for i, y in enumerate(ys):
            for j, xx in enumerate(xs):
                p = x[:, y:y + patch, xx:xx + patch][None].double()
                out[:, i, j] = stage1(p)[0]
    return out


# ------------------------------------------------------------------------ metrics


def pearson(p, t):
    """Pearson's r from its definition."""
    p, t = np.asarray(p, np.float64), np.asarray(t, np.float64)
    dp, dt = p - p.mean(), t - t.mean()
    return float((dp * dt).sum() / math.sqrt((dp * dp).sum() * (dt * dt).sum()))


def average_ranks(a):
    """1-based ranks, tied values sharing the mean of their ranks."""
    a = np.asarray(a, np.float64)
    ranks = np.empty(len(a))
    order = np.argsort(a, kind="stable")
    i = 0
    while i < len(a):
        j = i
        while j + 1 < len(a) and a[order[j + 1]] == a[order[i]]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(p, t):
    """Spearman's rho: Pearson's r of the average ranks."""
    return pearson(average_ranks(p), average_ranks(t))


def kendall_tau_b(p, t):
    """Kendall's tau-b by counting every pair: (C - D) / sqrt((n0 - n1)(n0 - n2))."""
    p, t = np.asarray(p, np.float64), np.asarray(t, np.float64)
    sp = np.sign(p[:, None] - p[None, :])
    st = np.sign(t[:, None] - t[None, :])
    upper = np.triu(np.ones((len(p), len(p)), bool), 1)
    s = (sp * st)[upper].sum()  # concordant - discordant
    tied_p = (sp[upper] == 0).sum()
    tied_t = (st[upper] == 0).sum()
    n0 = upper.sum()
    return float(s / math.sqrt((n0 - tied_p) * (n0 - tied_t)))


# ---------------------------------------------------------------------- objectives


def mae(outputs, targets):
    o, t = np.asarray(outputs, np.float64).ravel(), np.asarray(targets, np.float64)
    return float(np.abs(o - t).mean())


def ranking_hinge(outputs, targets, margin=3.0):
    """mean_i max(0, margin - y_i d_i)."""
    d, y = np.asarray(outputs, np.float64).ravel(), np.asarray(targets, np.float64)
    return float(np.maximum(0.0, margin - y * d).mean())


def weighted_bce(logits, targets, weights=(1.0, 1.0)):
    """mean_i -w_{y_i} [y_i log s(z_i) + (1 - y_i) log(1 - s(z_i))], s the logistic."""
    z, y = np.asarray(logits, np.float64).ravel(), np.asarray(targets, np.float64)
    s = 1 / (1 + np.exp(-z))
    w = np.where(y > 0.5, weights[1], weights[0])
    return float((-w * (y * np.log(s) + (1 - y) * np.log(1 - s))).mean())
