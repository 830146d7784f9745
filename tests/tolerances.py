"""Parity tolerances derived from the computation: float32 forward error bounds for SimpleNet.

Two twins that compute SimpleNet in float32 from the same weights on the same batches
differ only by rounding: each sums its dot products and batch means in its own order
(BLAS blocking, XLA's reduction trees, numpy's pairwise sums, FMA or not) and writes its
loss gradient and Adam update with its own sequence of float32 operations. So each twin's
result lies within a forward error bound of the exact (real-number) result, and two twins
lie within the sum of their bounds: ``2 * bound`` for twins bound by the same analysis.

The bounds below are running error bounds (Higham, "Accuracy and Stability of Numerical
Algorithms", 2nd ed., SIAM 2002, section 3.1 and Lemma 3.1; section 3.3 for bounds
evaluated on the computed quantities): a sum or dot product of ``n`` terms computed in
float32, in any order, with or without fused multiply-adds, satisfies

    |fl(sum_i x_i y_i) - sum_i x_i y_i| <= gamma(n) * sum_i |x_i y_i|,
    gamma(n) = n u / (1 - n u),  u = 2**-24 (float32's unit roundoff),

(Higham eq. 3.5), and an expression of ``k`` elementwise operations (+ - * / sqrt, each
correctly rounded by IEEE 754) has relative error at most ``gamma(k)``. The errors
already carried by the operands propagate with the operation's derivative, bounded over
the interval the operand can lie in (interval arithmetic) where the derivative can change
sign or vanish: at the ReLU's kink, the probability clip's edges and Adam's division by
sqrt(v). Each bound is evaluated along the exact trajectory (computed here in float64,
whose own rounding is 2**29 times smaller) from the arrays a test feeds its twins, so a
tolerance scales with the data, the width, the learning rate and the number of steps
instead of being one machine's number.

Over many steps a bound fed back into itself grows geometrically (absolute values where
the true errors partly cancel), so ``step_bounds`` is a-posteriori: step t's bounds take
the gap measured between two twins before it as an error in the operands (Higham,
section 3.3), and only Adam's moments, which no trace records, carry bounds from step to
step. Sums of many terms (the widest sweep's 4097-term logit, an epoch's 313 batch
losses) use the smaller of the worst case and the probabilistic bound of Higham and Mary
("A New Approach to Probabilistic Rounding Error Analysis", SIAM J. Sci. Comput. 41(5),
A2815-A2835, 2019: independent, mean-zero rounding errors) at ``LAMBDA`` = 8; below 64
terms the worst case is the smaller. docs/parity_tolerances.md walks through the
derivation.

Elementary functions (exp, log, the logistic) are not correctly rounded; libm, Eigen and
XLA's vectorised kernels are accurate to a few ulps, and ``ELEMENTARY_ULPS`` allows 4.

Every function takes and returns float64 numpy arrays; weights are ``[W1 (in, h),
b1 (h,), W2 (h, 1), b2 (1,)]`` in the Keras layout, as ``frameworks.initial_weights``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

U = 2.0 ** -24
"""float32's unit roundoff (round to nearest): |fl(x) - x| <= U |x|."""
LAMBDA = 8.0
"""Higham and Mary's confidence parameter: a probabilistic bound of n terms fails with
probability at most 2 n exp(-LAMBDA**2 / 2) = 2.5e-14 n."""
FLOAT32_TINY = 2.0 ** -126
"""float32's smallest normal number: the gap flush-to-zero may make."""
ELEMENTARY_ULPS = 4
"""Relative error of exp, log and the logistic function, in units of U."""
# Elementwise operations in one twin's loss gradient through the sigmoid: torch's BCE
# backward (input - target) / ((1 - input) input) times the sigmoid's p (1 - p) times 1/n,
# the longest of the twins' formulas for the same real number p - y, is 8 roundings.
GRADIENT_OPS = 8
# Adam's update from m and v: bias corrections (from float64 or expm1 in float32), sqrt,
# epsilon, division and the learning rate, in whichever order a twin writes them: 10.
UPDATE_OPS = 10


def gamma(n: int | np.ndarray) -> float | np.ndarray:
    """Higham's gamma_n = n u / (1 - n u) (Lemma 3.1): the relative error bound of ``n``
    float32 roundings, and of a sum of ``n`` terms relative to the sum of their moduli."""
    nu = np.asarray(n, dtype=np.float64) * U
    if np.any(nu >= 1):
        raise ValueError(f"gamma(n) needs n u < 1, got n = {n}")
    return nu / (1 - nu)


def gamma_probabilistic(n: int) -> float:
    """Higham and Mary's gamma~_n(lambda) = exp(lambda sqrt(n) u + n u**2 / (1 - u)) - 1
    (2019, Theorem 2.4 for sums, Theorem 3.1 for dot products of ``n`` terms): a bound
    that holds with probability at least 1 - 2 n exp(-lambda**2 (1 - u)**2 / 2) when the
    rounding errors are independent and of mean zero, at ``LAMBDA``."""
    return math.expm1(LAMBDA * math.sqrt(n) * U + n * U * U / (1 - U))


def gamma_sum(n: int) -> float:
    """The bound used for a sum or dot product of ``n`` terms: the smaller of the worst
    case ``gamma(n)`` and the probabilistic ``gamma_probabilistic(n)``, which is smaller
    only from about ``LAMBDA**2`` = 64 terms on (the widest sweep's hidden layer)."""
    return min(float(gamma(n)), gamma_probabilistic(n))


def sigmoid(z):
    """The logistic in float64, accurate relative to p also where p is tiny."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_slope(z):
    """The logistic's derivative p (1 - p) in float64, without cancellation in 1 - p."""
    e = np.exp(-np.abs(z))
    return e / (1 + e) ** 2


@dataclasses.dataclass
class Forward:
    """One forward pass (float64) and its error bounds, all shapes ``(batch, ...)``."""

    z1: np.ndarray
    E_z1: np.ndarray
    h: np.ndarray
    E_h: np.ndarray
    p: np.ndarray
    E_p: np.ndarray


def forward(X, weights, weight_errors=None) -> Forward:
    """The outputs of SimpleNet on ``X`` (n, in) and the bound ``E_p`` (n, 1) on
    ``|p_float32 - p|``, where the twin's weights may lie ``weight_errors`` (same shapes
    as ``weights``, default 0) from ``weights``."""
    X = np.asarray(X, np.float64)
    W1, b1, W2, b2 = (np.asarray(w, np.float64) for w in weights)
    dW1, db1, dW2, db2 = (np.zeros_like(w) for w in (W1, b1, W2, b2)) \
        if weight_errors is None else weight_errors
    aX = np.abs(X)
    z1 = X @ W1 + b1
    # fan-in + the bias: a dot product of in + 1 terms, on weights that may be off by dW.
    E_z1 = (gamma_sum(W1.shape[0] + 1) * (aX @ (np.abs(W1) + dW1) + np.abs(b1) + db1)
            + aX @ dW1 + db1)
    h = np.maximum(z1, 0)
    # The ReLU is 1-Lipschitz, and exactly 0 wherever z1 is surely negative.
    E_h = np.where(z1 + E_z1 < 0, 0.0, E_z1)
    z2 = h @ W2 + b2
    E_z2 = (gamma_sum(W2.shape[0] + 1) * ((h + E_h) @ (np.abs(W2) + dW2) + np.abs(b2) + db2)
            + E_h @ np.abs(W2) + (h + E_h) @ dW2 + db2)
    # The logistic's slope at the point of the interval z2 +- E_z2 nearest 0, plus its
    # own evaluation error: 1 / (1 + exp(-z)) is exp's error and 2 roundings relative to
    # p (near p = 1 that is absolute, 1 + exp(-z) rounding to 1). The twins' logistics
    # (numpy's, torch's, jax's, TensorFlow's Eigen kernel) were measured within 4.3 u of
    # p from z = -80 to 17.
    slope = sigmoid_slope(np.maximum(np.abs(z2) - E_z2, 0))
    p = sigmoid(z2)
    # Below float32's smallest normal number a twin may flush to zero (TensorFlow and XLA
    # set flush-to-zero) or not (numpy).
    E_p = slope * E_z2 + gamma(ELEMENTARY_ULPS + 2) * p + FLOAT32_TINY
    return Forward(z1, E_z1, h, E_h, p, E_p)


def _clipped_bce(p, y, clip):
    p = np.clip(p, clip, 1 - clip)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


def loss_bound(p, E_p, y, clip):
    """``(loss, E_loss)``: the batch mean of the clipped binary cross-entropy and the bound
    on its float32 value, from outputs ``p`` (n, 1) within ``E_p`` and labels ``y``."""
    terms = _clipped_bce(p, y, clip)
    # -log is monotone: the interval p +- E_p maps to the interval between its ends.
    spread = np.maximum(np.abs(_clipped_bce(p - E_p, y, clip) - terms),
                        np.abs(_clipped_bce(p + E_p, y, clip) - terms))
    # log's own error and that of its argument (1 - p rounded: absolute u after the log).
    E_terms = spread + gamma(ELEMENTARY_ULPS) * terms + gamma(2)
    n = len(terms)
    return float(terms.mean()), float(gamma_sum(n) * terms.mean() + E_terms.mean())


def _gradients(fw: Forward, X, y, weights, weight_errors, clip):
    """The gradients of the batch mean loss and their bounds (Keras layout)."""
    X = np.asarray(X, np.float64)
    aX = np.abs(X)
    n = len(X)
    W2 = np.asarray(weights[2], np.float64)
    dW2 = weight_errors[2]
    p, E_p = fw.p, fw.E_p
    inside = (p >= clip) & (p <= 1 - clip)
    surely_inside = (p - E_p >= clip) & (p + E_p <= 1 - clip)
    surely_outside = (p + E_p < clip) | (p - E_p > 1 - clip)
    dz2 = np.where(inside, p - y, 0.0) / n
    E_dz2 = np.where(surely_inside, E_p + gamma(GRADIENT_OPS) * np.abs(p - y), 0.0) / n
    # Where the twin's p may lie on either side of a clip edge, its gradient may be 0 or
    # p - y: anything in between.
    edge = ~surely_inside & ~surely_outside
    E_dz2 = np.where(edge, (np.abs(p - y) + E_p) / n, E_dz2)
    a_dz2 = np.abs(dz2) + E_dz2

    dh = dz2 @ W2.T
    E_dh = gamma(1) * np.abs(dz2) @ np.abs(W2).T + E_dz2 @ (np.abs(W2) + dW2).T \
        + np.abs(dz2) @ dW2.T
    # The ReLU's mask: surely 1 or 0 away from the kink, either within E_z1 of it.
    z1, E_z1 = fw.z1, fw.E_z1
    dz1 = np.where(z1 > 0, dh, 0.0)
    E_dz1 = np.where(z1 > E_z1, E_dh, 0.0)
    E_dz1 = np.where(np.abs(z1) <= E_z1, np.abs(dh) + E_dh, E_dz1)
    a_dz1 = np.abs(dz1) + E_dz1

    h, E_h = fw.h, fw.E_h
    grads = [X.T @ dz1, dz1.sum(0), h.T @ dz2, dz2.sum(0)]
    # n terms, and two roundings more: a division by a batch size that is not a power of
    # two, and data parallelism's average of the replicas' gradients.
    g_n = gamma_sum(n + 2)
    errors = [g_n * aX.T @ a_dz1 + aX.T @ E_dz1,
              g_n * a_dz1.sum(0) + E_dz1.sum(0),
              g_n * (h + E_h).T @ a_dz2 + E_h.T @ a_dz2 + h.T @ E_dz2,
              g_n * a_dz2.sum(0) + E_dz2.sum(0)]
    return grads, errors


def _unflatten(flat, weights):
    """Split a flat parameter vector (Keras layout) into arrays shaped like ``weights``."""
    out, start = [], 0
    for w in weights:
        out.append(np.asarray(flat[start:start + w.size], np.float64).reshape(w.shape))
        start += w.size
    return out


# Points of the interval g +- E_g at which Adam's update is evaluated (endpoints included):
# the update is smooth in g, and monotone on an interval small against |g|.
_G_SAMPLES = np.linspace(-1.0, 1.0, 5)


def adam_update_limit(b1, b2, c1, c2, t):
    """The largest |m_hat / sqrt(v_hat)| of Adam at step ``t`` (1-based) over all gradient
    histories, given the bias corrections ``c1 = 1 - b1**t``, ``c2 = 1 - b2**t``; inf where
    none exists (b2 = 0 < b1).

    By Cauchy-Schwarz on m_t = (1 - b1) sum_k b1**k g_(t-k) against v_t = (1 - b2) sum_k
    b2**k g_(t-k)**2: |m_t| <= (1 - b1) sqrt(sum_(k<t) (b1**2 / b2)**k) sqrt(v_t / (1 - b2)).
    Kingma and Ba ("Adam: A Method for Stochastic Optimization", ICLR 2015, section 2.1)
    bound the step by lr (1 - b1) / sqrt(1 - b2) in the same way."""
    if b2 == 0:  # v is the last gradient squared: |m| / sqrt(v) is 1 without momentum
        return 1.0 if b1 == 0 else math.inf
    ratio = b1 * b1 / b2
    terms = t if ratio == 1 else (1 - ratio ** t) / (1 - ratio)
    return math.sqrt(c2) / c1 * (1 - b1) / math.sqrt(1 - b2) * math.sqrt(terms)


class _AdamState:
    """One twin's Adam moments' bounds ``E_m``, ``E_v`` (distance from the reference's)."""

    def __init__(self, shapes):
        self.E_m = [np.zeros(s) for s in shapes]
        self.E_v = [np.zeros(s) for s in shapes]

    def update_spread(self, i, g, E_g, m, v, hyper):
        """The bound on this twin's update of parameter array ``i`` minus the exact one,
        given the reference's moments ``m``, ``v`` before the step and its gradient ``g``;
        moves the moments' bounds on by the step."""
        b1, b2, lr, eps, c1, c2, t = hyper
        # m <- b1 m + (1 - b1) g, or m + (1 - b1)(g - m): 3 roundings on these terms; v's
        # has g**2's too.
        rest_m = self.E_m[i] * b1 + gamma(3) * (np.abs(m) + (1 - b1) * (np.abs(g) + np.abs(m)))
        rest_v = self.E_v[i] * b2 + gamma(4) * (v + (1 - b2) * (g ** 2 + v))

        def update(m_new, v_new):
            return lr * (m_new / c1) / (np.sqrt(np.maximum(v_new, 0) / c2) + eps)

        ref = update(b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g ** 2)
        spread = np.zeros_like(ref)
        # The current gradient's error moves m and v together (both are functions of the
        # same g): sample it; the moments' earlier errors are independent of it, and the
        # update is monotone in each of m and v, so their extremes lie at the box's corners.
        for s in _G_SAMPLES:
            g_s = g + s * E_g
            m_s, v_s = b1 * m + (1 - b1) * g_s, b2 * v + (1 - b2) * g_s ** 2
            for dm in (-rest_m, rest_m):
                for dv in (-rest_v, rest_v):
                    spread = np.maximum(spread, np.abs(update(m_s + dm, v_s + dv) - ref))
        self.E_m[i] = rest_m + (1 - b1) * E_g
        self.E_v[i] = rest_v + (1 - b2) * (2 * np.abs(g) * E_g + E_g ** 2)
        # No update of Adam's exceeds its own bound, whatever its gradients were.
        cap = np.abs(ref) + adam_update_limit(b1, b2, c1, c2, t) * lr
        return np.minimum(spread, cap) + gamma(UPDATE_OPS) * np.abs(ref)


@dataclasses.dataclass
class StepBounds:
    """Bounds on the gaps between two twins, ``a`` and ``b``, step by step over one run of
    Adam steps (each gap bound is the sum of the two twins' distances from the exact
    computation, given the gaps measured at the step before).

    ``outputs[t]`` (batch_t, 1): on the outputs predicted on batch t just before step t;
    ``losses`` (steps,): on each step's batch loss; ``weights`` (steps, n_params): on the
    weights after each step (Keras layout, flattened); ``allowances`` (steps, n_params):
    what step t may add to the weights' gap, ``weights[t] = gap[t - 1] + allowances[t]``.
    ``loss_values`` (steps,): the exact batch losses at ``b``'s weights.
    """

    outputs: list
    losses: np.ndarray
    weights: np.ndarray
    allowances: np.ndarray
    loss_values: np.ndarray

    def epoch_weights(self) -> np.ndarray:
        """The bound on the gap after the last step for a run whose steps are not traced
        (a ``train_epoch``, which computes the same steps as ``a``'s traced ones): every
        step's allowance along ``a``'s steps, added up (n_params,). It assumes that run's
        gap before each step is what ``a``'s was; an a-priori bound (``weights_a=None``)
        assumes nothing but over hundreds of steps, or at lr 0.5, exceeds 0.1."""
        return self.allowances.sum(axis=0)

    def epoch_mean_loss(self, sizes) -> float:
        """The bound on the gap between the two twins' epoch mean losses (weighted by the
        batch ``sizes``), however each sums its ``steps`` batch losses."""
        sizes = np.asarray(sizes, np.float64)
        mean = np.sum(self.loss_values * sizes) / sizes.sum()
        accumulate = gamma_sum(len(sizes))
        return float(np.sum(self.losses * sizes) / sizes.sum() + 2 * accumulate * mean)


def step_bounds(spec, X, y, start, weights_a, weights_b) -> StepBounds:
    """Bounds on the gaps between two twins that ran Adam steps of ``spec`` (lr, betas,
    epsilon, batch size) on ``X`` (n, in), ``y`` (n, 1) in ``spec.batch_size`` batches from
    ``start`` (Keras layout), given their weights after every step, ``weights_a`` and
    ``weights_b`` (steps, n_params, flattened; ``b`` is the reference, usually numpy).

    A-posteriori (Higham section 3.3: bounds evaluated on the computed quantities): step
    t's bounds take the weights' gap measured after step t - 1 as an error already in the
    operands, so an error is never amplified by a bound on a bound; the moments m and v,
    which no trace records, carry bounds from step to step. ``weights_a=None`` is a twin
    whose steps are unknown (only its end is traced): its gap before each step is taken
    to be the bound after the step before (a-priori). Raises ``ValueError`` when the
    weights' shapes disagree with ``start`` or the batches."""
    from frameworks.base import PROB_EPSILON, batch_slices

    weights_b = np.asarray(weights_b, np.float64)
    a_priori = weights_a is None
    weights_a = weights_b if a_priori else np.asarray(weights_a, np.float64)
    start = [np.asarray(w, np.float64) for w in start]
    n_params = sum(w.size for w in start)
    steps = len(weights_b)
    batches = list(batch_slices(len(X), spec.batch_size))
    if weights_a.shape != weights_b.shape or weights_b.shape[1:] != (n_params,) \
            or steps > len(batches):
        raise ValueError(f"weights must be (steps <= {len(batches)}, {n_params}), got "
                         f"{weights_a.shape} and {weights_b.shape}")
    flat_start = np.concatenate([w.ravel() for w in start])
    before_a = np.vstack([flat_start, weights_a[:-1]])
    before_b = np.vstack([flat_start, weights_b[:-1]])
    shapes = [w.shape for w in start]
    m = [np.zeros(s) for s in shapes]
    v = [np.zeros(s) for s in shapes]
    state_a, state_b = _AdamState(shapes), _AdamState(shapes)
    b1, b2 = spec.adam_beta1, spec.adam_beta2
    outputs, losses, loss_values, allowances = [], [], [], []
    bound, bounds = np.zeros(n_params), []
    for t, batch in enumerate(batches[:steps], start=1):
        Xb = np.asarray(X[batch], np.float64)
        yb = np.asarray(y[batch], np.float64)
        W = _unflatten(before_b[t - 1], start)
        gap_before = bound if a_priori else np.abs(before_a[t - 1] - before_b[t - 1])
        gap = _unflatten(gap_before, start)
        zero = [np.zeros(s) for s in shapes]
        fw_a, fw_b = forward(Xb, W, gap), forward(Xb, W, zero)
        outputs.append(fw_a.E_p + fw_b.E_p)
        loss, E_loss_a = loss_bound(fw_a.p, fw_a.E_p, yb, PROB_EPSILON)
        _, E_loss_b = loss_bound(fw_b.p, fw_b.E_p, yb, PROB_EPSILON)
        losses.append(E_loss_a + E_loss_b)
        loss_values.append(loss)
        grads, E_grads_a = _gradients(fw_a, Xb, yb, W, gap, PROB_EPSILON)
        _, E_grads_b = _gradients(fw_b, Xb, yb, W, zero, PROB_EPSILON)
        c1 = -math.expm1(t * math.log(b1)) if b1 > 0 else 1.0
        c2 = -math.expm1(t * math.log(b2)) if b2 > 0 else 1.0
        hyper = (b1, b2, spec.lr, spec.adam_epsilon, c1, c2, t)
        step = []
        for i, g in enumerate(grads):
            spread = (state_a.update_spread(i, g, E_grads_a[i], m[i], v[i], hyper)
                      + state_b.update_spread(i, g, E_grads_b[i], m[i], v[i], hyper))
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g ** 2
            step.append(spread.ravel())
        # Each twin rounds its new weights to float32: u |W| each (at most half an ulp).
        spread = np.concatenate(step)
        after_a = (np.abs(weights_b[t - 1]) + gap_before + spread if a_priori
                   else np.abs(weights_a[t - 1]))
        allowances.append(spread + U * (after_a + np.abs(weights_b[t - 1])))
        bound = gap_before + allowances[-1]
        bounds.append(bound)
    return StepBounds(outputs, np.array(losses), np.stack(bounds), np.stack(allowances),
                      np.array(loss_values))


def assert_steps_within(bounds: StepBounds, gaps: dict, record_property) -> None:
    """Assert each traced step's gaps lie within ``bounds``, recording gap, bound and their ratio.

    ``gaps`` maps "weight" (steps x parameters), "output" (steps x batch x 1) and "loss"
    (steps,) to absolute gaps between two twins' traces. Also records how much of each
    step's allowance the weights' gap grew by, so a near miss shows where it came from.
    Raises AssertionError naming the first quantity over its bound.
    """
    limits = {"weight": bounds.weights, "output": np.stack(bounds.outputs),
              "loss": bounds.losses}
    for name, gap in gaps.items():
        record_property(f"{name}_gap", float(gap.max()))
        record_property(f"{name}_bound", float(limits[name].max()))
        record_property(f"{name}_gap_over_bound", float(np.max(gap / limits[name])))
    # What each step added to the weights' gap, against what that step may add.
    growth = np.diff(gaps["weight"], axis=0, prepend=0) / bounds.allowances
    record_property("weight_growth_over_allowance", float(growth.max()))
    for name, gap in gaps.items():
        assert np.all(gap <= limits[name]), (name, float(np.max(gap / limits[name])))
