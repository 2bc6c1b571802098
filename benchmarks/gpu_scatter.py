"""Row scatter-add on the GPU: CuPy's atomic adds against minissl's fixed-order path.

    MINISSL_BACKEND=cupy python benchmarks/gpu_scatter.py [--tiny]

An embedding's gradient adds each token's gradient row into the row of its id,
so ids that repeat are summed. ``cupyx.scatter_add`` does this with atomic adds:
the order of the additions (so the float rounding) changes from run to run, and a
seeded training run does not repeat itself. ``minissl.backend`` sums the rows as a
product with a one-hot matrix instead (``_scatter_rows_gpu``), in a fixed order.
For two shapes, this prints whether each way repeats to the last bit over three
runs, how far the two ways are apart, and the median time of each.
"""
from __future__ import annotations

import sys
import time

import numpy as np

SHAPES = ((1000, 65536, 384), (49152, 16384, 576))   # (rows, ids added, row width): a small and a SmolLM2 vocabulary
TINY = ((7, 50, 3), (11, 40, 4))


def main(tiny=False):
    from minissl import backend
    if not backend.on_gpu:
        raise SystemExit("run with MINISSL_BACKEND=cupy on a GPU: this compares two GPU code paths")
    import cupyx
    xp = backend.xp
    rng = np.random.default_rng(0)
    for V, N, D in TINY if tiny else SHAPES:
        idx = xp.asarray(rng.integers(0, V, N))
        vals = xp.asarray(rng.standard_normal((N, D)).astype(np.float32))

        def atomics():
            t = xp.zeros((V, D), xp.float32)
            cupyx.scatter_add(t, idx, vals)
            return t

        def fixed_order():
            return backend._scatter_rows_gpu(xp.zeros((V, D), xp.float32), idx, vals)
        print(f"{V} rows, {N} ids, width {D}:")
        for name, f in (("cupyx.scatter_add (atomics)", atomics), ("minissl fixed order", fixed_order)):
            runs = [backend.to_numpy(f()) for _ in range(3)]
            times = []
            for _ in range(3 if tiny else 20):
                xp.cuda.Device().synchronize()
                t0 = time.perf_counter()
                f()
                xp.cuda.Device().synchronize()
                times.append(time.perf_counter() - t0)
            same = all(np.array_equal(r, runs[0]) for r in runs)
            print(f"  {name:28s} repeats bit for bit: {'yes' if same else 'no '}   "
                  f"median {np.median(times) * 1e3:.3f} ms")
        gap = np.abs(backend.to_numpy(atomics()) - backend.to_numpy(fixed_order())).max()
        print(f"  largest difference between the two: {gap:.2e}")


if __name__ == "__main__":
    main(tiny="--tiny" in sys.argv)
