#!/usr/bin/env python3
"""Forklift's Python `multiprocessing` counterpart of the W1..W8 workloads.

The same work, counts and timer boundaries as the Lua jobs in ../forklift/,
so that scripts/bench can put the two side by side:

  W1/W1c  Pool(2).map only; the pool is started before and closed after the
          timer (pool start/stop is W8).
  W2      the serial loop in this process vs Pool(2).map of the same list.
  W3      200 x Process(target=empty).start(); .join().
  W4      child start -> parent got all 200,000 ints -> child joined.
  W5      as W4 with the same 1 MiB bytes object put 256 times (Lua strings are
          byte strings, so bytes is the matching type).
  W6      4 x Process start -> all joined; each does 100,000 x
          `with v.get_lock(): v.value += 1` on Value('i').
  W7      Array('d', 10M) filled before the timer; the timer covers starting
          2 children, each summing one half (`sum(a[lo:hi])`, one slice under
          the array's lock), both sums back on a Queue, the joins, the add.
  W8      50 x (Pool(2); apply(trivial); close(); join()).

Start method: 'fork' (Linux's default in CPython 3.11), unless a start method
is given for W3 or W8. Timing: time.perf_counter (monotonic wall clock).
Usage: mp_workloads.py ID [start-method]
Output: one line `ID name key=value ...`.
"""
import multiprocessing
import sys
import time

clock = time.perf_counter
MIB = 1 << 20


def square(x):
    return x * x


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def empty():
    pass


def trivial(x):
    return x + 1


def put_ints(q, count):
    for i in range(count):
        q.put(i)


def put_blobs(q, count):
    payload = b"x" * MIB
    for _ in range(count):
        q.put(payload)


def count_under_lock(v, count):
    for _ in range(count):
        with v.get_lock():
            v.value += 1


def sum_half(a, lo, hi, q):
    q.put(sum(a[lo:hi]))


def map_tiny(ctx, chunksize=None, tag="W1"):
    n = 1_000_000
    with ctx.Pool(2) as pool:
        t0 = clock()
        if chunksize is None:
            res = pool.map(square, range(1, n + 1))
        else:
            res = pool.map(square, range(1, n + 1), chunksize=chunksize)
        wall = clock() - t0
    assert len(res) == n and res[0] == 1 and res[-1] == n * n and res[499_999] == 500_000 ** 2
    cs = "default" if chunksize is None else chunksize
    return f"{tag} map-tiny tasks_per_s={n / wall:.0f} wall_s={wall:.4f} chunksize={cs}"


def map_cpu(ctx):
    items = [27] * 32
    t0 = clock()
    ser = [fib(x) for x in items]
    serial = clock() - t0
    with ctx.Pool(2) as pool:
        t0 = clock()
        par = pool.map(fib, items)
        parallel = clock() - t0
    assert ser == par and ser[0] == 196418
    return f"W2 map-cpu speedup={serial / parallel:.3f} serial_s={serial:.4f} parallel_s={parallel:.4f}"


def spawn(ctx):
    n = 200
    t0 = clock()
    for _ in range(n):
        p = ctx.Process(target=empty)
        p.start()
        p.join()
        assert p.exitcode == 0
    wall = clock() - t0
    return f"W3 spawn us_per_start_join={wall / n * 1e6:.1f} wall_s={wall:.4f} method={ctx.get_start_method()}"


def queue_small(ctx):
    n = 200_000
    q = ctx.Queue()
    t0 = clock()
    p = ctx.Process(target=put_ints, args=(q, n))
    p.start()
    total = 0
    for _ in range(n):
        total += q.get()
    p.join()
    wall = clock() - t0
    assert total == n * (n - 1) // 2 and p.exitcode == 0
    return f"W4 queue-small msgs_per_s={n / wall:.0f} wall_s={wall:.4f}"


def queue_bulk(ctx):
    n = 256
    q = ctx.Queue()
    t0 = clock()
    p = ctx.Process(target=put_blobs, args=(q, n))
    p.start()
    total = 0
    for _ in range(n):
        total += len(q.get())
    p.join()
    wall = clock() - t0
    assert total == n * MIB and p.exitcode == 0
    return f"W5 queue-bulk mib_per_s={n / wall:.1f} wall_s={wall:.4f}"


def value_counter(ctx):
    n, k = 100_000, 4
    v = ctx.Value("i", 0)
    t0 = clock()
    ps = [ctx.Process(target=count_under_lock, args=(v, n)) for _ in range(k)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    wall = clock() - t0
    assert v.value == n * k, v.value
    return f"W6 value-counter incs_per_s={n * k / wall:.0f} wall_s={wall:.4f} final={v.value}"


def array_sum(ctx):
    n = 10_000_000
    a = ctx.Array("d", n)
    tf = clock()
    a.get_obj()[:] = [float(i) for i in range(n)]
    tf = clock() - tf
    q = ctx.Queue()
    half = n // 2
    t0 = clock()
    ps = [ctx.Process(target=sum_half, args=(a, 0, half, q)),
          ctx.Process(target=sum_half, args=(a, half, n, q))]
    for p in ps:
        p.start()
    total = q.get() + q.get()
    for p in ps:
        p.join()
    wall = clock() - t0
    assert total == n * (n - 1) / 2, total
    return f"W7 array-sum seconds={wall:.4f} fill_s={tf:.3f}"


def pool_cycle(ctx):
    n = 50
    t0 = clock()
    for _ in range(n):
        pool = ctx.Pool(2)
        r = pool.apply(trivial, (41,))
        pool.close()
        pool.join()
        assert r == 42
    wall = clock() - t0
    return f"W8 pool-cycle ms_per_cycle={wall / n * 1e3:.2f} wall_s={wall:.4f} method={ctx.get_start_method()}"


def codec(ctx):
    """C1: what multiprocessing itself sends with (ForkingPickler), on a list of 1,000,000 ints; best of 5."""
    from multiprocessing.reduction import ForkingPickler
    n = 1_000_000
    xs = list(range(1, n + 1))
    best_e = best_d = float("inf")
    size = 0
    for _ in range(5):
        t0 = time.perf_counter()
        data = ForkingPickler.dumps(xs)
        t1 = time.perf_counter()
        back = ForkingPickler.loads(data)
        t2 = time.perf_counter()
        assert len(back) == n and back[-1] == n
        best_e, best_d, size = min(best_e, t1 - t0), min(best_d, t2 - t1), len(data)
    return (f"C1 codec ms_total={(best_e + best_d) * 1e3:.2f} encode_ms={best_e * 1e3:.2f} "
            f"decode_ms={best_d * 1e3:.2f} encode_values_per_s={n / best_e:.0f} "
            f"decode_values_per_s={n / best_d:.0f} bytes={size}")


WORKLOADS = {
    "W1": map_tiny,
    "W1c": lambda ctx: map_tiny(ctx, 10_000, "W1c"),
    "W2": map_cpu,
    "W3": spawn,
    "W4": queue_small,
    "W5": queue_bulk,
    "W6": value_counter,
    "W7": array_sum,
    "W8": pool_cycle,
    "C1": codec,
}

if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or sys.argv[1] not in WORKLOADS:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(WORKLOADS)} [fork|forkserver|spawn]")
    method = sys.argv[2] if len(sys.argv) == 3 else "fork"
    print(WORKLOADS[sys.argv[1]](multiprocessing.get_context(method)), flush=True)
