"""Every torch.ops.hyperkit op driven with random shapes, dtypes, layouts and extreme
integers (issue 22): each call must return or raise a Python exception, never kill the
process. The calls run in a subprocess that prints each case before making it, so a
signal names the case that caused it. Bounded: a few hundred calls, under a minute.

Under AddressSanitizer (docs/kernels.md "Sanitizers"), the same file also catches
out-of-bounds reads that do not crash:  pytest tests/ops/test_op_fuzz.py
"""

import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent('''
    import random, sys
    import torch
    import hyperkit, hyperkit.ops
    T = torch.ops.hyperkit
    rng = random.Random(int(sys.argv[1]))
    INTS = [-1, 0, 1, 2, 3, 5, 7, 2**31 - 1, 2**62, 2**63 - 1]
    DTYPES = [torch.float32, torch.float64, torch.float16, torch.int64, torch.bool]

    def dim():
        return rng.choice([0, 1, 1, 2, 3, 5, 9, 33])

    def tensor(ndim=None, dtype=None):
        ndim = rng.choice([0, 1, 2, 3, 4, 5]) if ndim is None else ndim
        dt = dtype or rng.choice(DTYPES + [torch.float32] * 3)  # floats most of the time
        shape = [dim() for _ in range(ndim)]
        t = (torch.randn(shape) * 4).to(dt) if dt != torch.bool else torch.rand(shape) > .5
        if rng.random() < 0.1 and t.is_floating_point() and t.numel():
            t.view(-1)[0] = float(rng.choice(["nan", "inf", "-inf"]))
        if ndim >= 2 and rng.random() < 0.3:
            t = t.transpose(-1, -2)  # not contiguous
        return t

    def idx(like=None):
        if like is not None and rng.random() < 0.8:  # mostly plausible: in range, same shape
            return torch.randint(-1 if rng.random() < 0.2 else 0, 40, like.shape,
                                 dtype=torch.int64)
        return tensor(dtype=rng.choice([torch.int64, torch.int32]))

    def size():  # plane sizes: small, moderate (a plane far larger than the grad), extreme
        return rng.choice([rng.randint(1, 40), rng.choice([64, 256, 2048]), rng.choice(INTS)])

    def pair():
        return [rng.choice(INTS), rng.choice(INTS)] if rng.random() < 0.3 else \\
            [rng.randint(1, 6), rng.randint(1, 6)]

    def ints(n):
        return [rng.choice(INTS) if rng.random() < 0.3 else rng.randint(0, 30)
                for _ in range(n)]

    def case():
        op = rng.choice(["lcn", "minmax", "minmax_bw", "grid", "grid_bw", "gather",
                         "conv_minmax"])
        if op == "lcn":
            return op, lambda: T.lcn(tensor(4), rng.choice(INTS + [3]),
                                     rng.choice([1e-300, 0.5, 7 / 6, 1e30, -1.0]),
                                     rng.choice([1e-300, 1 / 255, 0.0, -1.0]))
        if op == "minmax":
            return op, lambda: T.minmax_pool2d(tensor(4), pair(), pair(), rng.random() < .5)
        if op == "minmax_bw":
            g = tensor(4)
            return op, lambda: T.minmax_pool2d_backward(
                g, g if rng.random() < .7 else tensor(4), idx(g), idx(g),
                size(), size(), pair(), pair())
        if op == "grid":
            return op, lambda: T.grid_minmax_pool(tensor(4), pair(), ints(rng.randint(0, 3)),
                                                  ints(rng.randint(0, 3)), rng.random() < .5)
        if op == "grid_bw":
            g = tensor(4)
            return op, lambda: T.grid_minmax_pool_backward(
                g, g, idx(g), idx(g), size(), size(), pair(),
                ints(rng.randint(0, 3)), ints(rng.randint(0, 3)))
        if op == "gather":
            ims = [tensor(3, torch.float32) for _ in range(rng.randint(0, 3))]
            n = rng.randint(0, 4)
            return op, lambda: T.gather_patches(
                ims, pair(), torch.tensor(ints(n)), torch.tensor(ints(n)),
                torch.tensor(ints(rng.choice([n, n + 1]))))
        x = tensor(4)
        return op, lambda: T.conv_minmax(x, tensor(4), tensor(1) if rng.random() < .5
                                         else None, rng.random() < .5)

    for k in range(int(sys.argv[2])):
        op, call = case()
        print(k, op, flush=True)
        try:
            call()
        except Exception:  # a Python exception is the accepted way to refuse
            pass
    print("done", flush=True)
''')


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_op_calls_never_kill_the_process(seed):
    r = subprocess.run([sys.executable, "-c", CHILD, str(seed), "150"], capture_output=True,
                       text=True, timeout=300)
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "(nothing)"
    assert r.returncode == 0 and last == "done", \
        f"seed {seed}: exit {r.returncode} after case {last!r}: {r.stderr[-600:]}"
