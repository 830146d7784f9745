"""Measure what each fairness convention is worth: ``python -m frameworks.conventions``.

Runs PyTorch beside Keras (jax backend, the fastest Keras here) and prints:
  1. how far apart the weights are after one epoch from the same start, with
     Adam's epsilon matched, and with each framework's own convention;
  2. test accuracy after ``--epochs`` epochs over ``--seeds`` seeds under the
     matched and the course conventions.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np


def weight_gap(a, b) -> float:
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


def one_epoch_gaps(spec):
    from frameworks import initial_weights, load, make_dataset  # sets TensorFlow's quiet flags
    from frameworks.keras_twin import build_model, import_keras

    keras = import_keras("jax")

    data = make_dataset(spec)
    X, y = data.epoch_arrays(0)
    torch_net = load("torch", spec)
    torch_net.train_epoch(X, y)
    reference = torch_net.get_weights()

    matched = load("keras-jax", spec)
    matched.train_epoch(X, y)
    gaps = {"matched (PyTorch's epsilon placement in both)": weight_gap(
        reference, matched.get_weights())}
    for label, epsilon in [("Keras's own placement, epsilon 1e-8", 1e-8),
                           ("Keras's own placement and default epsilon 1e-7", 1e-7)]:
        model = build_model(keras, spec.input_size, spec.hidden_size)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=spec.lr, epsilon=epsilon),
                      loss="binary_crossentropy")
        model.set_weights(initial_weights(spec))
        model.fit(X, y, batch_size=spec.batch_size, epochs=1, shuffle=False, verbose=0)
        gaps[label] = weight_gap(reference, model.get_weights())
    return gaps


def accuracies(spec, convention, seeds, epochs):
    from frameworks import load, make_dataset

    out = {}
    for name in ("torch", "keras-jax"):
        accs = []
        for seed in range(seeds):
            s = spec.replace(seed=seed, convention=convention)
            data, net = make_dataset(s), load(name, s)
            for epoch in range(epochs):
                net.train_epoch(*data.epoch_arrays(epoch))
            accs.append(net.evaluate(data.X_test, data.y_test)[1])
        out[name] = accs
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m frameworks.conventions",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10, help="epochs per run (default 10)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per cell (default 5)")
    args = parser.parse_args(argv)

    from frameworks import SimpleNetSpec

    spec = SimpleNetSpec()
    print("Max |weight difference| from PyTorch after one epoch (313 steps, same start):")
    for label, gap in one_epoch_gaps(spec).items():
        print(f"  {label:<50} {gap:.1e}")
    print(f"\nTest accuracy after {args.epochs} epochs, mean ± sd over {args.seeds} seeds:")
    for convention in ("matched", "course"):
        for name, accs in accuracies(spec, convention, args.seeds, args.epochs).items():
            sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
            print(f"  {convention:<8} {name:<10} {statistics.mean(accs):.4f} ± {sd:.4f}")


if __name__ == "__main__":
    main()
