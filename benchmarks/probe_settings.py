"""Does a well-known setting move a row by more than 10%? ``python -m benchmarks.probe_settings``.

A documented speed setting earns a variant of its own only if it matters, so each is
measured before one is added. Each probe times the suite's own timed region (one training
epoch, or the evaluation pass where that is what the setting changes) with the setting
off and on, alternating A, B, A, B so that drift on a shared machine hits both alike,
and prints the ratio of medians (B / A). A quick look, not a result: the benchmark
itself is the measurement.

Probes (each in its own process, as Keras fixes its backend at import):
  torch-foreach   torch loop: Adam(foreach=True) instead of the CPU default per-tensor loop
  torch-inference torch evaluation: torch.inference_mode() instead of torch.no_grad()
  tf-retracing    keras-tensorflow loop: tf.function(reduce_retracing=True)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

PROBES = ("torch-foreach", "torch-inference", "tf-retracing")


def alternate(a, b, pairs: int) -> dict:
    """Median seconds of ``a()`` and ``b()`` over ``pairs`` alternated calls, and B / A."""
    a(), b()  # warm: compile, trace, allocate
    times = {"a": [], "b": []}
    for _ in range(pairs):
        for key, fn in (("a", a), ("b", b)):
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    a_s, b_s = statistics.median(times["a"]), statistics.median(times["b"])
    return {"a_median_s": a_s, "b_median_s": b_s, "ratio_b_to_a": b_s / a_s}


def probe(name: str, batch_size: int, pairs: int) -> dict:
    from frameworks import SimpleNetSpec, load, make_dataset

    spec = SimpleNetSpec(batch_size=batch_size)
    data = make_dataset(spec)
    X, y = data.epoch_arrays(0)
    if name == "torch-foreach":
        import torch

        plain, foreach = load("torch", spec), load("torch", spec)
        foreach.optimizer = torch.optim.Adam(foreach.model.parameters(), lr=spec.lr,
                                             eps=spec.adam_epsilon, foreach=True)
        return alternate(lambda: plain.train_epoch(X, y), lambda: foreach.train_epoch(X, y),
                         pairs)
    if name == "torch-inference":
        import torch

        net = load("torch", spec)
        X_test = net._tensor(data.X_test)

        def evaluate(context):
            with context():
                return net.model(X_test).cpu().numpy()

        return alternate(lambda: evaluate(torch.no_grad), lambda: evaluate(torch.inference_mode),
                         pairs)
    if name == "tf-retracing":
        import tensorflow as tf

        from frameworks.keras_twin import _tf_loop_step

        plain, relaxed = load("keras-tensorflow", spec, mode="loop"), \
            load("keras-tensorflow", spec, mode="loop")
        step = _tf_loop_step(relaxed.model)
        relaxed._loop_step = tf.function(step.python_function, reduce_retracing=True)
        return alternate(lambda: plain.train_epoch(X, y), lambda: relaxed.train_epoch(X, y),
                         pairs)
    raise ValueError(f"unknown probe {name!r}; choose from: {', '.join(PROBES)}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.probe_settings",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", default="32,1024")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--probe", choices=PROBES, help="run one probe in this process")
    args = parser.parse_args(argv)
    batch_sizes = [int(b) for b in args.batch_size.split(",")]
    if args.probe:
        print(json.dumps({b: probe(args.probe, b, args.pairs) for b in batch_sizes}))
        return
    for name in PROBES:
        out = subprocess.run([sys.executable, "-m", "benchmarks.probe_settings", "--probe",
                              name, "--batch-size", args.batch_size, "--pairs",
                              str(args.pairs)], capture_output=True, text=True, check=True)
        for batch, result in json.loads(out.stdout.splitlines()[-1]).items():
            print(f"{name:<16} b{batch:<5} off {result['a_median_s'] * 1e3:8.1f} ms  "
                  f"on {result['b_median_s'] * 1e3:8.1f} ms  on/off {result['ratio_b_to_a']:.2f}")


if __name__ == "__main__":
    main()
