"""The isometric-representations paper's MNIST experiment, in its own setting.

Six locally isometric layers (one :class:`~sklearn_robust.nn.StackedLILClassifier`
level of four tanh layers of 100 units, cross-entropy plus
``beta / N^2 ||G * (D_input - D_hidden)||_F^2`` within each class of a
minibatch of ``N = 100``), one per ``beta`` of the paper, attacked with L-inf
FGSM over a log grid of eps and with L-inf PGD of radius 0.5 over a log grid
of step sizes (section 2.2, figure 3 and table 1 of "Isometric representations
in neural networks improve robustness"). A diagnostic of the isometry itself,
the within-class correlation of input and representation distances, goes with
each network.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.spatial.distance import pdist

from ..nn import StackedLILClassifier
from ..robustness import fgsm, pgd

__all__ = [
    "ISOMETRY_BETAS",
    "IsometrySetting",
    "IsometrySweep",
    "deviations",
    "isometry_correlation",
    "measure_isometry_sweep",
]

#: The paper's six weights of the isometry term (section 2.2).
ISOMETRY_BETAS = (0.0, 0.001, 0.01, 0.1, 1.0, 10.0)
#: Adam updates of the paper's training: five epochs of 600 batches of 100 (60,000 images).
PAPER_UPDATES = 3000
PAPER_TRAINING_IMAGES = 60_000
#: A quick run, and a data set other than MNIST, train for this fraction of the updates each:
#: at about 5 ms an update on one thread, six networks of 3,000 updates take 100 s.
SHORTENED = 5


def _log_grid(n_points):
    """``n_points`` values spaced logarithmically from 0.01 to 1, as Python floats."""
    return tuple(float(value) for value in np.logspace(-2, 0, n_points))


@dataclass(frozen=True)
class IsometrySetting:
    """The paper's MNIST setting for the locally isometric layer (LIL), as measured.

    Attributes
    ----------
    hidden_sizes : tuple of int
        The LIL's hidden layers: four of 100 units (the paper's MNIST network).
    activation : str
        Their non-linearity, tanh.
    batch_size : int
        Minibatch size N of Adam and of the isometry term's ``1 / N^2``: 100.
    updates : int
        Adam updates to train for: the paper's five epochs of 600 batches make
        3,000; :meth:`epochs_for` turns them into epochs of a smaller set.
    epochs : int or None
        Passes over the training set; None: as many as ``updates`` need.
    lr : float
        Adam's learning rate. The paper does not give one; PyTorch's default.
    betas : tuple of float
        Weights of the isometry term, one network each.
    fgsm_eps : tuple of float
        L-inf FGSM step sizes: logarithmic from 0.01 to 1.
    pgd_eps : float
        Radius of PGD's L-inf ball: 0.5.
    pgd_steps : int
        PGD's steps: ten.
    pgd_step_sizes : tuple of float
        PGD's step sizes: logarithmic from 0.01 to 1.
    pgd_random_start : bool
        Whether PGD starts at a random point of the ball. The paper does not
        say; without one, the step-size axis reads as how far ten steps reach.
    max_per_class : int
        Test examples per class behind the isometry diagnostic.

    Examples
    --------
    >>> from sklearn_robust.compare import ComparisonConfig
    >>> from sklearn_robust.compare._isometry import IsometrySetting
    >>> setting = IsometrySetting.for_config(ComparisonConfig(dataset="mnist"))
    >>> setting.hidden_sizes, setting.batch_size, setting.epochs_for(5000)
    ((100, 100, 100, 100), 100, 60)
    """

    hidden_sizes: tuple = (100, 100, 100, 100)
    activation: str = "tanh"
    batch_size: int = 100
    updates: int = PAPER_UPDATES
    epochs: int | None = None
    lr: float = 1e-3
    betas: tuple = ISOMETRY_BETAS
    fgsm_eps: tuple = field(default_factory=lambda: _log_grid(9))
    pgd_eps: float = 0.5
    pgd_steps: int = 10
    pgd_step_sizes: tuple = field(default_factory=lambda: _log_grid(5))
    pgd_random_start: bool = False
    max_per_class: int = 200

    @classmethod
    def for_config(cls, config):
        """The paper's setting for a run, shortened where the run is not the paper's.

        MNIST gets the paper's 3,000 Adam updates. A quick run trains for a
        fifth of them, and so does a data set other than MNIST (digits: the
        paper's setting on data it did not use, at a fifth of the cost); both
        at once, a twenty-fifth.

        Parameters
        ----------
        config : ComparisonConfig
            The run (``quick`` and ``dataset`` matter).

        Returns
        -------
        IsometrySetting
        """
        divisor = (SHORTENED if config.quick else 1) * (
            SHORTENED if config.dataset != "mnist" else 1
        )
        return cls(updates=PAPER_UPDATES // divisor)

    def epochs_for(self, n_train):
        """Epochs over ``n_train`` examples that give (at least) ``updates`` Adam updates.

        Parameters
        ----------
        n_train : int
            Size of the training set.

        Returns
        -------
        int
        """
        if self.epochs is not None:
            return self.epochs
        return max(1, math.ceil(self.updates / math.ceil(n_train / self.batch_size)))

    def estimator(self, beta, epochs, random_state, device="cpu"):
        """The unfitted LIL of weight ``beta``: one level of stacked LILs.

        Its isometry term is the paper's: the block's output (its last tanh
        layer) against its input, within each class, ``beta / N^2`` with N the
        minibatch's size; ``beta = 0`` skips the term altogether.

        Parameters
        ----------
        beta : float
            Weight of the isometry term.
        epochs : int
            Passes over the training set (see :meth:`epochs_for`).
        random_state : int
            Seed of the initialisation and of the minibatch order.
        device : str, default="cpu"
            Torch device to train on.

        Returns
        -------
        StackedLILClassifier
        """
        return StackedLILClassifier(
            self.hidden_sizes,
            activation=self.activation,
            strength=beta,
            scope="class",
            lr=self.lr,
            max_epochs=epochs,
            batch_size=self.batch_size,
            device=device,
            random_state=random_state,
        )

    def to_dict(self):
        """The setting as JSON-ready Python values (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def deviations(config, n_train=None, n_eval=None):
    """Where a run departs from the paper's MNIST experiment, one sentence each.

    Parameters
    ----------
    config : ComparisonConfig
        The run.
    n_train : int or None, default=None
        Training images of the run; None: not stated.
    n_eval : int or None, default=None
        Test images attacked; None: ``config.eval_size``.

    Returns
    -------
    list of str

    Examples
    --------
    >>> from sklearn_robust.compare import ComparisonConfig
    >>> from sklearn_robust.compare._isometry import deviations
    >>> sentences = deviations(ComparisonConfig(dataset="mnist"), n_train=5000)
    >>> sentences[0].split(": ")[1]
    '60 epochs of 50 batches make 3,000 Adam updates.'
    """
    setting = IsometrySetting.for_config(config)
    sentences = []
    if config.dataset != "mnist":
        sentences.append(
            f"The data ({config.dataset}) are not the paper's MNIST; the network, batch, "
            "betas and attacks are its MNIST setting, unchanged."
        )
    if n_train is not None:
        sentences.append(_training_sentence(setting, config, n_train))
    if setting.updates != PAPER_UPDATES:
        reasons = [
            reason
            for reason, applies in (
                ("a quick run", config.quick),
                ("data other than the paper's", config.dataset != "mnist"),
            )
            if applies
        ]
        sentences.append(
            f"The networks train for about {setting.updates:,} Adam updates, "
            f"{setting.updates / PAPER_UPDATES:.0%} of the paper's {PAPER_UPDATES:,} "
            f"({' and '.join(reasons)}), to keep the sweep short."
        )
    sentences += [
        f"The paper gives no learning rate: Adam's PyTorch default, {setting.lr:g}.",
        "The paper does not say whether PGD starts at a random point of the ball: it "
        + ("does here." if setting.pgd_random_start else "starts at the clean image here."),
        f"The attacks are evaluated on {n_eval or config.eval_size} test images, the clean "
        "accuracy and the isometry diagnostic on the whole test set.",
    ]
    return sentences


def _training_sentence(setting, config, n_train):
    """How many Adam updates the run's epochs make (the paper: 5 epochs x 600 batches = 3,000)."""
    batches = math.ceil(n_train / setting.batch_size)
    epochs = setting.epochs_for(n_train)
    updates = f"{epochs} epochs of {batches} batches make {epochs * batches:,} Adam updates"
    if config.dataset == "mnist" and n_train != PAPER_TRAINING_IMAGES:
        return (
            f"Trained on {n_train:,} MNIST images, not the paper's "
            f"{PAPER_TRAINING_IMAGES:,}: {updates}."
        )
    return f"Trained on {n_train:,} images: {updates} (the paper: five epochs of 600 batches)."


# ------------------------------------------------------------------ the diagnostic
def _class_distances(X, Z, y, max_per_class, random_state):
    """Per class, the condensed pairwise distances of its inputs and its representations.

    A class's rows are subsampled (without replacement, seeded) to at most
    ``max_per_class``; classes of fewer than three rows have too few pairs for a
    correlation and are left out.
    """
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    Z = np.asarray(Z, dtype=np.float64).reshape(len(Z), -1)
    y = np.asarray(y)
    rng = np.random.default_rng(random_state)
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        if len(rows) > max_per_class:
            rows = np.sort(rng.choice(rows, size=max_per_class, replace=False))
        if len(rows) >= 3:
            yield label, pdist(X[rows]), pdist(Z[rows])


def isometry_correlation(X, Z, y, max_per_class=200, random_state=None):
    """How isometric a representation is within classes: a distance correlation.

    For each class, the Pearson correlation between the pairwise Euclidean
    distances of its inputs ``X`` and those of their representations ``Z``;
    the mean over classes. An isometry (a rotation, a translation) gives 1 and
    so does any map that scales every within-class distance alike; it is
    blind to a uniform change of scale, which the isometry term is not.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Inputs.
    Z : array-like of shape (n_samples, n_components)
        Their representations.
    y : array-like of shape (n_samples,)
        Class labels.
    max_per_class : int, default=200
        A class's examples beyond this are subsampled (its pairs grow as n^2).
    random_state : int, Generator or None, default=None
        Seed of the subsample.

    Returns
    -------
    float
        Mean over classes of three or more examples; NaN if there are none, or
        if a class's distances are all equal (no correlation is defined).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_robust.compare._isometry import isometry_correlation
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(60, 5)), np.repeat([0, 1, 2], 20)
    >>> rotation = np.linalg.qr(rng.normal(size=(5, 5)))[0]
    >>> round(isometry_correlation(X, X @ rotation + 3.0, y), 6)
    1.0
    """
    correlations = [
        _pearson(dx, dz) for _, dx, dz in _class_distances(X, Z, y, max_per_class, random_state)
    ]
    return float(np.mean(correlations)) if correlations else float("nan")


def _pearson(a, b):
    """Pearson's r; NaN when either side is constant."""
    a, b = a - a.mean(), b - b.mean()
    norm = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / norm) if norm > 0 else float("nan")


def _distance_scale(X, Z, y, max_per_class, random_state):
    """Median within-class input distance, and median ratio of representation to input distance."""
    pairs = list(_class_distances(X, Z, y, max_per_class, random_state))
    if not pairs:
        return float("nan"), float("nan")
    dx = np.concatenate([d for _, d, _ in pairs])
    dz = np.concatenate([d for _, _, d in pairs])
    kept = dx > 0  # duplicated inputs have no ratio
    return float(np.median(dx)), float(np.median(dz[kept] / dx[kept]))


# ----------------------------------------------------------------------- the sweep
@dataclass
class IsometrySweep:
    """One LIL per beta, trained in the paper's setting, and what it measured.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per beta: ``beta``, ``accuracy`` (clean, test set),
        ``fgsm_auc`` (FGSM accuracy averaged over log eps, the normalised area
        under the curve of figure 3A), ``pgd_accuracy_min`` (the worst PGD
        accuracy over the step sizes), ``isometry`` (:func:`isometry_correlation`
        at the LIL's output on the test set), ``input_distance`` (median
        within-class input distance), ``distance_ratio`` (median ratio of
        representation to input distance within classes: 1 for an isometry),
        ``seconds``.
    fgsm : pandas.DataFrame
        Columns beta, eps, accuracy: figure 3A.
    pgd : pandas.DataFrame
        Columns beta, step_size, accuracy: figure 3B.
    setting : IsometrySetting
        What was measured with.
    deviations : list of str
        Where the run departs from the paper.
    """

    table: pd.DataFrame
    fgsm: pd.DataFrame
    pgd: pd.DataFrame
    setting: IsometrySetting
    deviations: list

    def to_json(self):
        """The sweep as plain Python values (NaN as None), ready for ``json.dumps``.

        Returns
        -------
        dict
            ``setting``, ``deviations``, ``table``, ``fgsm`` and ``pgd``, the
            tables as lists of records.
        """
        return {
            "setting": self.setting.to_dict(),
            "deviations": list(self.deviations),
            "table": _records(self.table),
            "fgsm": _records(self.fgsm),
            "pgd": _records(self.pgd),
        }


def _records(frame):
    """A table's rows as dicts of Python numbers, a non-finite number as None."""

    def plain(value):
        value = value.item() if isinstance(value, np.generic) else value
        return None if isinstance(value, float) and not math.isfinite(value) else value

    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def measure_isometry_sweep(split, config, progress=print):
    """Train one LIL per beta of the paper and attack each: figure 3 and table 1.

    Parameters
    ----------
    split : _Split
        The run's data: ``X_train``/``y_train`` to train on, ``X_test``/``y_test``
        for the clean accuracy and the diagnostic, ``X_eval``/``y_eval`` to
        attack, ``clip`` the box the attacks stay in.
    config : ComparisonConfig
        ``quick``, ``device`` and ``random_state`` (every network gets the same
        seed, so they start from the same weights and see the same batches).
    progress : callable, default=print
        Receives one line per beta.

    Returns
    -------
    IsometrySweep
    """
    setting = IsometrySetting.for_config(config)
    epochs = setting.epochs_for(len(split.X_train))
    rows, fgsm_rows, pgd_rows = [], [], []
    for index, beta in enumerate(setting.betas, start=1):
        row, fgsm_curve, pgd_curve = _measure_beta(beta, epochs, split, setting, config)
        rows.append(row)
        fgsm_rows += [(beta, eps, acc) for eps, acc in fgsm_curve]
        pgd_rows += [(beta, step, acc) for step, acc in pgd_curve]
        progress(_progress_line(index, len(setting.betas), row))
    return IsometrySweep(
        table=pd.DataFrame(rows),
        fgsm=pd.DataFrame(fgsm_rows, columns=["beta", "eps", "accuracy"]),
        pgd=pd.DataFrame(pgd_rows, columns=["beta", "step_size", "accuracy"]),
        setting=setting,
        deviations=deviations(config, len(split.X_train), len(split.X_eval)),
    )


def _measure_beta(beta, epochs, split, setting, config):
    """Train one LIL; its table row (timed) and its FGSM and PGD curves."""
    start = time.perf_counter()
    model = setting.estimator(beta, epochs, config.random_state, config.device)
    model.fit(split.X_train, split.y_train)
    fgsm_curve = _fgsm_curve(model, split, setting)
    pgd_curve = _pgd_curve(model, split, setting, config.random_state)
    row = _row(model, beta, split, setting, config.random_state, fgsm_curve, pgd_curve)
    row["seconds"] = time.perf_counter() - start
    return row, fgsm_curve, pgd_curve


def _fgsm_curve(model, split, setting):
    """``[(eps, accuracy)]`` of L-inf FGSM on the evaluated images."""
    curve = []
    for eps in setting.fgsm_eps:
        X_adv = fgsm(model, split.X_eval, split.y_eval, eps, clip=split.clip)
        curve.append((eps, _accuracy(model, X_adv, split)))
    return curve


def _pgd_curve(model, split, setting, random_state):
    """``[(step_size, accuracy)]`` of L-inf PGD in the ball of ``pgd_eps``."""
    curve = []
    for step in setting.pgd_step_sizes:
        X_adv = pgd(
            model,
            split.X_eval,
            split.y_eval,
            setting.pgd_eps,
            n_iter=setting.pgd_steps,
            step_size=step,
            random_start=setting.pgd_random_start,
            clip=split.clip,
            random_state=random_state,
        )
        curve.append((step, _accuracy(model, X_adv, split)))
    return curve


def _accuracy(model, X_adv, split):
    return float(np.mean(model.predict(X_adv) == split.y_eval))


def _row(model, beta, split, setting, random_state, fgsm_curve, pgd_curve):
    """One beta's row of the table (all but the seconds)."""
    hidden = model.transform(split.X_test)
    args = (split.X_test, hidden, split.y_test, setting.max_per_class, random_state)
    input_distance, ratio = _distance_scale(*args)
    log_eps = np.log10([eps for eps, _ in fgsm_curve])
    fgsm_accuracy = np.array([acc for _, acc in fgsm_curve])
    # Trapezoids over log eps, divided by the span: the mean height of figure 3A's curve.
    areas = (fgsm_accuracy[1:] + fgsm_accuracy[:-1]) / 2 * np.diff(log_eps)
    span = log_eps[-1] - log_eps[0]
    return {
        "beta": beta,
        "accuracy": float(model.score(split.X_test, split.y_test)),
        "fgsm_auc": float(areas.sum() / span) if span > 0 else float(fgsm_accuracy.mean()),
        "pgd_accuracy_min": min(acc for _, acc in pgd_curve),
        "isometry": isometry_correlation(*args),
        "input_distance": input_distance,
        "distance_ratio": ratio,
    }


def _progress_line(index, total, row):
    return (
        f"isometry sweep [{index}/{total}] beta={row['beta']:g}: accuracy {row['accuracy']:.3f}, "
        f"FGSM area {row['fgsm_auc']:.3f}, worst PGD {row['pgd_accuracy_min']:.3f}, "
        f"isometry r={row['isometry']:.3f} ({row['seconds']:.0f} s)"
    )
