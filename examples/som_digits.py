"""Self-organizing maps of two hidden layers on digits, clean and perturbed (Lee and Vijayan).

A network with two hidden layers is trained on the digits (pixels in [0, 1]);
the activations of each hidden layer on the training images train a 10 x 10
toroidal self-organizing map with the cosine distance. On the test images the
example then shows, per layer:

- how tightly each class gathers on the map: ``D_class``, the mean grid
  distance from a class's best matching units (BMUs) to the class centre (the
  paper's figure 6 finds it smaller in deeper layers);
- how far the 10 best BMUs of each image move when the image is perturbed by
  PGD (L2, eps = 1) or by random noise of the same L2 norm, image by image (the
  noise takes the norm of that image's PGD perturbation; the paper's figure 11
  finds the adversarial shifts larger).

PGD is kept in the image box [0, 1]; the noise is not clipped, so that its norm
equals the PGD perturbation's exactly. Writes a figure with the maps' BMU
densities and class centres, the D_class boxes and the BMU-shift curves.
Runs in well under a minute on two CPU cores:

    python examples/som_digits.py --out som_digits.png
"""

import argparse
import time

import numpy as np
from sklearn.model_selection import train_test_split

from sklearn_robust import LayerActivations, RobustNetClassifier, SOMProbe
from sklearn_robust.datasets import load_digits
from sklearn_robust.robustness import pgd, random_noise

LAYERS = {"hidden 1": "encoder.1", "hidden 2": "encoder.3"}  # Linear + ReLU pairs
EPS = 1.0  # L2 radius of PGD, in pixels of [0, 1]
K = 10  # BMUs compared per image


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="som_digits.png", help="figure file to write")
    parser.add_argument("--eps", type=float, default=EPS, help="L2 radius of PGD")
    parser.add_argument("--som-epochs", type=int, default=20, help="SOM training epochs")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    # The network: two hidden layers of 128 ReLU units.
    X, y = load_digits(return_X_y=True)  # sklearn's digits, pixels scaled to [0, 1]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    clf = RobustNetClassifier(
        module__hidden_sizes=(128, 128), max_epochs=50, device="cpu", random_state=0
    ).fit(X_train, y_train)
    print(f"test accuracy {clf.score(X_test, y_test):.3f}")

    # One map per hidden layer, trained on the training images' activations.
    activations = LayerActivations(clf, list(LAYERS.values())).fit(X_train)
    train_codes = activations.transform(X_train)
    test_codes = activations.transform(X_test)
    probes = {
        name: SOMProbe(
            10,
            10,
            metric="cosine",
            topology="toroidal",
            sigma=3.0,
            n_epochs=args.som_epochs,
            device="cpu",
            random_state=0,
        ).fit(train_codes[layer])
        for name, layer in LAYERS.items()
    }

    # D_class per layer, on the test images.
    spreads = {
        name: probe.class_spread(test_codes[LAYERS[name]], y_test) for name, probe in probes.items()
    }
    for name, spread in spreads.items():
        values = np.array(list(spread.values()))
        print(
            f"{name}: D_class mean over classes {values.mean():.2f} "
            f"(min {values.min():.2f}, max {values.max():.2f}) grid units"
        )

    # PGD, and random noise with each image's PGD perturbation norm.
    X_pgd = pgd(clf, X_test, y_test, eps=args.eps, norm="l2", clip=(0, 1), random_state=0)
    norms = np.linalg.norm(X_pgd - X_test, axis=1)
    X_noise = random_noise(clf, X_test, eps=norms, random_state=0)
    print(
        f"perturbation L2 norm: mean {norms.mean():.3f} (PGD) and "
        f"{np.linalg.norm(X_noise - X_test, axis=1).mean():.3f} (noise); accuracy "
        f"{clf.score(X_pgd, y_test):.3f} (PGD), {clf.score(X_noise, y_test):.3f} (noise)"
    )
    perturbed = {"PGD": activations.transform(X_pgd), "noise": activations.transform(X_noise)}
    shifts = {}
    for name, probe in probes.items():
        layer = LAYERS[name]
        for attack, codes in perturbed.items():
            shifts[f"{attack}, {name}"] = probe.bmu_shift(test_codes[layer], codes[layer], k=K)
        print(
            f"{name}: mean shift of the top-{K} BMUs {shifts[f'PGD, {name}'].mean():.2f} (PGD), "
            f"{shifts[f'noise, {name}'].mean():.2f} (noise) grid units"
        )
    print(f"ran in {time.perf_counter() - started:.1f} s")

    # Figure: densities and class centres, D_class, BMU shifts.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sklearn_robust.plotting import plot_bmu_shift, plot_class_spread, plot_som_density

    fig, axes = plt.subplots(2, 2, figsize=(11, 9))
    for ax, (name, probe) in zip(axes[0], probes.items(), strict=True):
        plot_som_density(probe, test_codes[LAYERS[name]], y_test, ax=ax)
        ax.set_title(f"{name}: BMU density and class centres")
    plot_class_spread(spreads, ax=axes[1, 0])
    plot_bmu_shift(shifts, ax=axes[1, 1]).set_title(f"top-{K} BMU shift, L2 eps = {args.eps:g}")
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    plt.close(fig)
    print(f"wrote {args.out}")
    return spreads, shifts


if __name__ == "__main__":
    main()
