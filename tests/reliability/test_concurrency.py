"""Many Python threads calling native kernels at once (the GIL is released inside them)
get exactly the results of serial calls, also while another thread changes the thread
count."""
import threading

import numpy as np

import nncore
import nncore.functional as F


def workload(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((96, 130)).astype(np.float32)
    w = rng.standard_normal((130, 70)).astype(np.float32)
    b = rng.standard_normal(70).astype(np.float32)
    labels = rng.integers(0, 70, 96)

    def run():
        y = F.dense_forward(x, w, b, ["relu", "tanh", "sigmoid"][seed % 3])
        grads = F.dense_backward(x, w, y, np.ascontiguousarray(y[::-1]),
                                 ["relu", "tanh", "sigmoid"][seed % 3])
        loss, g = F.cross_entropy_and_grad(y, labels)
        return [y, *grads, np.array(loss), g, F.softmax(x, axis=0), F.matmul(x, x, trans_a=True),
                F.tanh(x)]
    return run


def run_threads(jobs, rounds):
    results = [None] * len(jobs)
    errors = []
    barrier = threading.Barrier(len(jobs))

    def target(i):
        try:
            barrier.wait()
            out = None
            for _ in range(rounds):
                out = jobs[i]()
                if results[i] is None:
                    results[i] = out
                else:
                    for a, b in zip(results[i], out):
                        assert np.array_equal(a, b)
        except Exception as e:  # reported to the main thread
            errors.append(e)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_eight_threads_match_serial_results():
    jobs = [workload(i) for i in range(8)]
    with nncore.threads(2):
        serial = [job() for job in jobs]
        parallel = run_threads(jobs, rounds=5)
    for s, p in zip(serial, parallel):
        for a, b in zip(s, p):
            assert np.array_equal(a, b)


def test_changing_thread_count_mid_run_is_safe():
    jobs = [workload(i) for i in range(6)]
    with nncore.threads(1):
        serial = [job() for job in jobs]
    stop = threading.Event()
    before = nncore.get_num_threads()

    def flip():
        n = 0
        while not stop.is_set():
            nncore.set_num_threads(1 + n % 3)
            n += 1

    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        parallel = run_threads(jobs, rounds=5)
    finally:
        stop.set()
        flipper.join()
        nncore.set_num_threads(before)
    for s, p in zip(serial, parallel):
        for a, b in zip(s, p):
            assert np.array_equal(a, b)   # same bits for any thread count
