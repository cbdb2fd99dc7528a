"""Jacobian, spectral and isometry penalties on the hidden layer, against plain references."""

import numpy as np
import pytest
import torch
from sklearn.base import clone

import sklearn_robust.nn
from sklearn_robust.nn import (
    MLP,
    IsometryPenalty,
    JacobianPenalty,
    L2Penalty,
    PenaltyBatch,
    SpectralPenalty,
)
from sklearn_robust.spectrum import covariance_spectrum, fit_power_law

NEW_PENALTIES = (JacobianPenalty, SpectralPenalty, IsometryPenalty)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The tensors here are tiny: a second intra-op thread only adds contention on a
    shared machine (measured: 25x slower optimisation loops), so use one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_batch(module, inputs, targets=None, input_grad=False):
    """The PenaltyBatch the classifier builds for one minibatch."""
    inputs = inputs.clone().requires_grad_(input_grad)
    logits, hidden = module(inputs)
    if targets is None:
        targets = torch.zeros(inputs.shape[0], dtype=torch.long)
    return PenaltyBatch(inputs, hidden, logits, targets, module)


def hidden_batch(hidden, inputs=None, targets=None):
    """A batch around a given hidden tensor, for penalties that ignore the module."""
    n_examples = hidden.shape[0]
    if inputs is None:
        inputs = torch.zeros(n_examples, 1)
    if targets is None:
        targets = torch.zeros(n_examples, dtype=torch.long)
    return PenaltyBatch(inputs, hidden, torch.zeros(n_examples, 2), targets, None)


class Linear(torch.nn.Module):
    """h = x W^T, returned as (logits, hidden)."""

    def __init__(self, weight):
        super().__init__()
        self.weight = torch.nn.Parameter(weight)

    def forward(self, x):
        hidden = x @ self.weight.T
        return hidden, hidden


# ----------------------------------------------------------------------------- common


def test_exported_from_nn():
    for cls in NEW_PENALTIES:
        assert cls.__name__ in sklearn_robust.nn.__all__
        assert getattr(sklearn_robust.nn, cls.__name__) is cls


@pytest.mark.parametrize(
    ("cls", "defaults"),
    [
        (JacobianPenalty, {"strength": 1e-2, "n_proj": 3}),
        (SpectralPenalty, {"strength": 1e-2, "alpha": 1.0, "tau": 10}),
        (IsometryPenalty, {"strength": 1.0, "scope": "class", "metric": "euclidean"}),
    ],
)
def test_defaults_and_clone(cls, defaults):
    penalty = cls()
    assert penalty.get_params() == defaults
    penalty.validate()
    assert clone(penalty).get_params() == defaults
    assert cls.__name__ in repr(penalty)


def test_only_the_jacobian_needs_input_gradients():
    assert JacobianPenalty.needs_input_grad is True
    assert SpectralPenalty.needs_input_grad is False
    assert IsometryPenalty.needs_input_grad is False


@pytest.mark.parametrize(
    "penalty",
    [
        JacobianPenalty(strength=-1.0),
        JacobianPenalty(n_proj=0),
        JacobianPenalty(n_proj=-2),
        JacobianPenalty(n_proj=1.5),
        JacobianPenalty(n_proj="3"),
        SpectralPenalty(alpha=0.0),
        SpectralPenalty(alpha=-1.0),
        SpectralPenalty(tau=-1),
        SpectralPenalty(tau=2.5),
        IsometryPenalty(scope="pairs"),
        IsometryPenalty(metric="manhattan"),
    ],
    ids=repr,
)
def test_invalid_parameters_raise(penalty):
    with pytest.raises(ValueError):
        penalty.validate()


@pytest.mark.parametrize(
    "penalty",
    [JacobianPenalty(n_proj=-1), JacobianPenalty(n_proj=1), IsometryPenalty(scope="global")],
    ids=repr,
)
def test_valid_edge_parameters(penalty):
    penalty.validate()


@pytest.mark.parametrize(
    "penalty",
    [
        L2Penalty(strength=-1),
        JacobianPenalty(n_proj=0),
        SpectralPenalty(alpha=-1.0),
        IsometryPenalty(scope="pairs"),
    ],
    ids=repr,
)
def test_calling_a_penalty_validates_it(penalty):
    # Called directly, outside the classifier, a negative strength would return a
    # negative penalty.
    batch = make_batch(MLP(4, 3, hidden_sizes=(5,)), torch.randn(6, 4), input_grad=True)
    with pytest.raises(ValueError, match=f"parameter of {type(penalty).__name__}"):
        penalty(batch)


def test_a_penalty_validates_once_per_parameter_set(monkeypatch):
    penalty = L2Penalty(strength=0.5)
    batch = make_batch(MLP(4, 3, hidden_sizes=(5,)), torch.randn(6, 4))
    calls = []
    original = L2Penalty.validate
    monkeypatch.setattr(L2Penalty, "validate", lambda self: calls.append(1) or original(self))
    for _ in range(3):
        penalty(batch)
    assert len(calls) == 1
    penalty.set_params(strength=0.25)
    penalty(batch)
    assert len(calls) == 2
    penalty.strength = -1.0
    with pytest.raises(ValueError, match="strength"):
        penalty(batch)


@pytest.mark.parametrize("cls", NEW_PENALTIES)
def test_zero_strength_skips_the_term(cls):
    # Inputs without gradients, no eigenbasis and a tau too large for the width:
    # any of these would fail in term(); strength 0 must not call it.
    module = MLP(4, 3, hidden_sizes=(3,))
    batch = make_batch(module, torch.randn(5, 4))
    penalty = cls(strength=0.0)
    if cls is SpectralPenalty:
        penalty.set_params(tau=10)
    value = penalty(batch)
    assert value.shape == () and value.item() == 0.0 and not value.requires_grad
    assert not hasattr(penalty, "eigenvectors_")


# --------------------------------------------------------------------------- Jacobian


def exact_jacobian_term(module, inputs):
    """1/(2B) sum_b ||dh/dx (x_b)||_F^2, one torch.autograd.functional.jacobian per example."""
    total = 0.0
    for x in inputs:
        jacobian = torch.autograd.functional.jacobian(lambda x: module(x[None])[1][0], x)
        total += jacobian.pow(2).sum().item()
    return total / (2 * inputs.shape[0])


@pytest.fixture
def tanh_mlp():
    return MLP(6, 3, hidden_sizes=(5,), activation="tanh")


def test_jacobian_exact_matches_autograd_functional(tanh_mlp):
    module = tanh_mlp.double()
    inputs = torch.randn(7, 6, dtype=torch.float64)
    value = JacobianPenalty(n_proj=-1).term(make_batch(module, inputs, input_grad=True))
    assert value.item() == pytest.approx(exact_jacobian_term(module, inputs), rel=1e-10)


def test_jacobian_exact_in_float32(tanh_mlp):
    inputs = torch.randn(7, 6)
    value = JacobianPenalty(n_proj=-1).term(make_batch(tanh_mlp, inputs, input_grad=True))
    expected = exact_jacobian_term(tanh_mlp.double(), inputs.double())
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(expected, rel=1e-5)


def test_jacobian_projection_estimate_is_unbiased(tanh_mlp):
    inputs = torch.randn(4, 6)
    batch = make_batch(tanh_mlp, inputs, input_grad=True)
    exact = JacobianPenalty(n_proj=-1).term(batch).item()
    penalty = JacobianPenalty(n_proj=1)
    draws = np.array([penalty.term(batch).item() for _ in range(2000)])
    standard_error = draws.std(ddof=1) / np.sqrt(draws.size)
    assert standard_error > 0  # the estimate is random ...
    assert abs(draws.mean() - exact) < 4 * standard_error  # ... and unbiased


def test_jacobian_projections_average_single_draws(tanh_mlp):
    batch = make_batch(tanh_mlp, torch.randn(4, 6), input_grad=True)
    torch.manual_seed(3)
    singles = [JacobianPenalty(n_proj=1).term(batch).item() for _ in range(3)]
    torch.manual_seed(3)
    averaged = JacobianPenalty(n_proj=3).term(batch).item()
    assert averaged == pytest.approx(np.mean(singles), rel=1e-5)


def test_jacobian_is_reproducible_under_the_global_seed(tanh_mlp):
    batch = make_batch(tanh_mlp, torch.randn(4, 6), input_grad=True)
    values = []
    for _ in range(2):
        torch.manual_seed(11)
        values.append(JacobianPenalty().term(batch).item())
    assert values[0] == values[1]


@pytest.mark.parametrize("n_proj", [-1, 3])
def test_jacobian_gradients_reach_the_encoder(tanh_mlp, n_proj):
    batch = make_batch(tanh_mlp, torch.randn(8, 6), input_grad=True)
    penalty = JacobianPenalty(strength=0.1, n_proj=n_proj)
    loss = torch.nn.functional.cross_entropy(batch.logits, batch.targets) + penalty(batch)
    loss.backward()  # the graph survives the penalty's own backward passes
    for weight in tanh_mlp.encoder.parameters():
        assert weight.grad is not None
        assert torch.isfinite(weight.grad).all() and weight.grad.abs().sum() > 0
    # the penalty alone differentiates the Jacobian itself
    tanh_mlp.zero_grad()
    batch = make_batch(tanh_mlp, torch.randn(8, 6), input_grad=True)
    penalty(batch).backward()
    assert tanh_mlp.encoder[0].weight.grad.abs().sum() > 0


def test_jacobian_of_a_linear_layer_is_its_weight():
    weight = torch.randn(5, 6, dtype=torch.float64)
    module = Linear(weight)
    expected = weight.pow(2).sum().item() / 2
    inputs = torch.randn(9, 6, dtype=torch.float64)
    for row in inputs:  # every example alone
        batch = make_batch(module, row[None], input_grad=True)
        assert JacobianPenalty(n_proj=-1).term(batch).item() == pytest.approx(expected, rel=1e-12)
    batch = make_batch(module, inputs, input_grad=True)
    assert JacobianPenalty(n_proj=-1).term(batch).item() == pytest.approx(expected, rel=1e-12)


def test_jacobian_flattens_image_inputs():
    weight = torch.randn(3, 8, dtype=torch.float64)

    class Images(torch.nn.Module):
        def forward(self, x):
            hidden = torch.tanh(x.reshape(x.shape[0], -1) @ weight.T)
            return hidden, hidden

    images = torch.randn(4, 2, 2, 2, dtype=torch.float64)
    value = JacobianPenalty(n_proj=-1).term(make_batch(Images(), images, input_grad=True))
    flat = Linear(weight)
    flat.forward = lambda x: (torch.tanh(x @ weight.T),) * 2
    expected = exact_jacobian_term(flat, images.reshape(4, -1))
    assert value.item() == pytest.approx(expected, rel=1e-10)


def test_jacobian_needs_input_gradients(tanh_mlp):
    batch = make_batch(tanh_mlp, torch.randn(4, 6), input_grad=False)
    with pytest.raises(ValueError, match="requires_grad"):
        JacobianPenalty().term(batch)


def test_jacobian_of_a_constant_hidden_layer_is_zero():
    inputs = torch.randn(4, 3, requires_grad=True)
    hidden = torch.ones(4, 2) * torch.randn(1, requires_grad=True)  # independent of inputs
    batch = PenaltyBatch(inputs, hidden, torch.zeros(4, 2), torch.zeros(4), None)
    for n_proj in (-1, 2):
        assert JacobianPenalty(n_proj=n_proj).term(batch).item() == 0.0


# --------------------------------------------------------------------------- spectral


def spectral_reference(hidden, eigenvectors, alpha, tau):
    """The spectral term written plainly in NumPy (float64)."""
    hidden = np.asarray(hidden, dtype=np.float64)
    eigenvectors = np.asarray(eigenvectors, dtype=np.float64)
    n_examples, width = hidden.shape
    centred = hidden - hidden.mean(axis=0)
    covariance = centred.T @ centred / (n_examples - 1)
    variances = np.diag(eigenvectors.T @ covariance @ eigenvectors)
    anchor = variances[tau]  # rank tau + 1, 1-based
    total = 0.0
    for rank in range(tau + 1, width + 1):
        target = anchor * ((tau + 1) / rank) ** alpha
        excess = variances[rank - 1] / target - 1
        total += excess**2 + max(excess, 0.0)
    return total / width


def numpy_eigenvectors(data):
    """Covariance eigenvectors of data, largest variance first."""
    _, vectors = np.linalg.eigh(np.cov(np.asarray(data, dtype=np.float64), rowvar=False))
    return vectors[:, ::-1]


def exact_spectrum_hidden(eigenvalues, basis, n_examples=200, seed=0):
    """Rows whose sample covariance (ddof=1) is exactly basis diag(eigenvalues) basis^T."""
    rng = np.random.default_rng(seed)
    width = eigenvalues.size
    noise = rng.standard_normal((n_examples, width))
    orthonormal, _ = np.linalg.qr(noise - noise.mean(axis=0))  # centred, orthonormal columns
    return np.sqrt(n_examples - 1) * orthonormal * np.sqrt(eigenvalues) @ basis.T


@pytest.mark.parametrize(("alpha", "tau"), [(1.0, 3), (0.5, 0), (2.0, 7)])
def test_spectral_matches_numpy_reference(alpha, tau):
    width = 12
    mixing = torch.randn(width, width) / width**0.5
    train = torch.randn(300, width) @ mixing
    hidden = (torch.randn(60, width) * torch.linspace(2, 0.2, width)) @ mixing
    penalty = SpectralPenalty(alpha=alpha, tau=tau)
    penalty.on_epoch_begin(lambda X: X, train)
    assert penalty.eigenvectors_.shape == (width, width)
    assert penalty.eigenvectors_.dtype == torch.float32
    np.testing.assert_allclose(
        np.abs(penalty.eigenvectors_.numpy()), np.abs(numpy_eigenvectors(train)), atol=1e-3
    )
    assert torch.all(penalty.eigenvalues_[:-1] >= penalty.eigenvalues_[1:])
    value = penalty.term(hidden_batch(hidden))
    expected = spectral_reference(hidden, penalty.eigenvectors_.numpy(), alpha, tau)
    assert value.item() == pytest.approx(expected, rel=1e-4)


def test_spectral_works_before_any_epoch():
    hidden = torch.randn(80, 15) * torch.arange(1, 16) ** -0.2
    penalty = SpectralPenalty(tau=4)
    value = penalty.term(hidden_batch(hidden))
    expected = spectral_reference(hidden, numpy_eigenvectors(hidden), 1.0, 4)
    assert value.item() == pytest.approx(expected, rel=1e-4)
    assert not hasattr(penalty, "eigenvectors_")  # nothing stored from a batch


@pytest.mark.parametrize("alpha", [0.7, 1.0, 1.5])
def test_spectral_is_zero_on_an_exact_power_law(alpha):
    width, tau = 20, 5
    basis, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((width, width)))
    ranks = np.arange(1, width + 1, dtype=np.float64)
    hidden = torch.tensor(exact_spectrum_hidden(3.0 * ranks**-alpha, basis), dtype=torch.float32)
    penalty = SpectralPenalty(alpha=alpha, tau=tau)
    penalty.on_epoch_begin(lambda X: X, hidden)
    np.testing.assert_allclose(np.abs(penalty.eigenvectors_.numpy()), np.abs(basis), atol=1e-4)
    assert penalty.term(hidden_batch(hidden)).item() < 1e-6
    # the same basis, stored exactly, and the same spectrum with a different head
    penalty.eigenvectors_ = torch.tensor(basis, dtype=torch.float32)
    assert penalty.term(hidden_batch(hidden)).item() < 1e-6
    head = np.where(ranks <= tau, 10 * ranks**-0.3, 3.0 * ranks**-alpha)
    other_head = torch.tensor(exact_spectrum_hidden(head, basis), dtype=torch.float32)
    assert penalty.term(hidden_batch(other_head)).item() < 1e-6
    # a different exponent beyond tau is penalized, in both directions
    for wrong in (alpha / 2, alpha * 2):
        off = torch.tensor(exact_spectrum_hidden(ranks**-wrong, basis), dtype=torch.float32)
        assert penalty.term(hidden_batch(off)).item() > 1e-2


def test_spectral_is_scale_invariant_and_detaches_the_anchor():
    hidden = torch.randn(100, 16) * torch.arange(1, 17) ** -0.4
    penalty = SpectralPenalty(tau=3)
    penalty.on_epoch_begin(lambda X: X, hidden)
    value = penalty.term(hidden_batch(hidden)).item()
    assert penalty.term(hidden_batch(7.0 * hidden)).item() == pytest.approx(value, rel=1e-5)
    # Detached anchor: the term's gradient along rank tau+1 only comes from the
    # rank-tau+1 summand, which is at its minimum (ratio 1), so it vanishes.
    free = hidden.clone().requires_grad_(True)
    penalty.term(hidden_batch(free)).backward()
    anchor_direction = penalty.eigenvectors_[:, 3]
    centred = hidden - hidden.mean(dim=0)
    along_anchor = (free.grad * (centred @ anchor_direction)[:, None]).sum(dim=0) @ anchor_direction
    assert abs(along_anchor.item()) < 1e-6 * free.grad.norm().item()


def test_spectral_guards():
    hidden = torch.randn(30, 8)
    with pytest.raises(ValueError, match=r"tau=7.*width 8"):
        SpectralPenalty(tau=7).term(hidden_batch(hidden))
    with pytest.raises(ValueError, match=r"tau=8.*width 8"):
        SpectralPenalty(tau=8).on_epoch_begin(lambda X: X, hidden)
    assert SpectralPenalty(tau=6).term(hidden_batch(hidden)).item() >= 0  # ranks 7 and 8
    # a single example has no variance; a collapsed batch stays finite
    assert SpectralPenalty(tau=2).term(hidden_batch(hidden[:1])).item() == 0.0
    collapsed = SpectralPenalty(tau=2)
    collapsed.on_epoch_begin(lambda X: X, hidden)
    value = collapsed.term(hidden_batch(torch.ones(30, 8)))
    assert torch.isfinite(value)
    # a basis from another width is refused
    with pytest.raises(ValueError, match="width 9"):
        collapsed.term(hidden_batch(torch.randn(30, 9)))


def test_spectral_on_epoch_begin_runs_without_grad():
    module = MLP(5, 2, hidden_sizes=(12,))
    calls = []

    def hidden_of(X):
        calls.append(torch.is_grad_enabled())
        return module(X)[1]

    penalty = SpectralPenalty(tau=2)
    penalty.on_epoch_begin(hidden_of, torch.randn(50, 5))
    assert calls == [False] and not penalty.eigenvectors_.requires_grad


def fitted_alpha(hidden):
    spectrum = covariance_spectrum(hidden.detach().numpy(), device="cpu")
    return fit_power_law(spectrum, n_min=11, n_max=40).alpha


@pytest.mark.parametrize("start_alpha", [0.3, 2.0])
def test_spectral_descent_moves_the_exponent_towards_alpha(start_alpha):
    n_examples, width = 500, 40
    basis = torch.linalg.qr(torch.randn(width, width))[0]
    scales = torch.arange(1, width + 1, dtype=torch.float32) ** (-start_alpha / 2)
    hidden = torch.nn.Parameter(torch.randn(n_examples, width) * scales @ basis.T)
    penalty = SpectralPenalty(strength=1.0, alpha=1.0, tau=10)
    optimizer = torch.optim.Adam([hidden], lr=0.01)
    before = fitted_alpha(hidden)
    for step in range(300):
        if step % 20 == 0:
            penalty.on_epoch_begin(lambda X: X.detach(), hidden)
        optimizer.zero_grad()
        penalty(hidden_batch(hidden)).backward()
        optimizer.step()
    after = fitted_alpha(hidden)
    assert abs(after - 1.0) < 0.5 * abs(before - 1.0)


# --------------------------------------------------------------------------- isometry


def isometry_reference(inputs, hidden, targets, scope, metric="euclidean"):
    """1/N^2 sum_ij G_ij (d(x_i, x_j) - d(h_i, h_j))^2 with a double loop (float64)."""
    inputs = np.asarray(inputs, dtype=np.float64).reshape(len(inputs), -1)
    hidden = np.asarray(hidden, dtype=np.float64)

    def distance(a, b):
        if metric == "cosine":
            return 1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
        return np.linalg.norm(a - b)

    n_examples = len(inputs)
    total = 0.0
    for i in range(n_examples):
        for j in range(n_examples):
            if scope == "class" and targets[i] != targets[j]:
                continue
            total += (distance(inputs[i], inputs[j]) - distance(hidden[i], hidden[j])) ** 2
    return total / n_examples**2


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("scope", ["class", "global"])
def test_isometry_matches_double_loop(scope, metric):
    inputs = torch.randn(30, 7)
    hidden = torch.tanh(inputs @ torch.randn(7, 5))
    targets = torch.randint(0, 3, (30,))
    batch = hidden_batch(hidden, inputs, targets)
    value = IsometryPenalty(scope=scope, metric=metric).term(batch)
    expected = isometry_reference(inputs, hidden, targets.numpy(), scope, metric)
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(expected, rel=1e-4)


def test_isometry_scope_class_is_at_most_global():
    inputs, hidden = torch.randn(20, 4), torch.randn(20, 6)
    batch = hidden_batch(hidden, inputs, torch.randint(0, 2, (20,)))
    assert IsometryPenalty(scope="class").term(batch) < IsometryPenalty(scope="global").term(batch)


@pytest.mark.parametrize("scope", ["class", "global"])
def test_isometry_is_zero_for_isometries_only(scope):
    inputs = torch.randn(40, 6) * 3
    targets = torch.randint(0, 4, (40,))
    rotation = torch.linalg.qr(torch.randn(6, 6))[0]
    penalty = IsometryPenalty(scope=scope)
    scale = penalty.term(hidden_batch(torch.zeros(40, 6), inputs, targets)).item()
    for isometric in (inputs @ rotation, inputs + 5.0, inputs @ rotation - 2.0):
        assert penalty.term(hidden_batch(isometric, inputs, targets)).item() < 1e-7 * scale
    # an isometry into a wider space (zero padding) is one too
    padded = torch.cat([inputs @ rotation, torch.zeros(40, 3)], dim=1)
    assert penalty.term(hidden_batch(padded, inputs, targets)).item() < 1e-7 * scale
    for distorted in (1.5 * inputs, torch.tanh(inputs)):
        assert penalty.term(hidden_batch(distorted, inputs, targets)).item() > 1e-2 * scale


def test_isometry_class_scope_ignores_between_class_pairs():
    inputs = torch.randn(24, 5)
    hidden = torch.randn(24, 8)
    targets = torch.arange(24) % 3
    penalty = IsometryPenalty(scope="class")
    value = penalty.term(hidden_batch(hidden, inputs, targets)).item()
    # translate each class by its own vector, on each side: within-class distances
    # stay, between-class distances change
    moved_inputs = inputs + 10 * torch.randn(3, 5)[targets]
    moved_hidden = hidden + 10 * torch.randn(3, 8)[targets]
    for new_inputs, new_hidden in ((moved_inputs, hidden), (inputs, moved_hidden)):
        moved = penalty.term(hidden_batch(new_hidden, new_inputs, targets)).item()
        assert moved == pytest.approx(value, rel=1e-4)
        changed = IsometryPenalty(scope="global").term(
            hidden_batch(new_hidden, new_inputs, targets)
        )
        assert changed.item() > 2 * value


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_isometry_gradients_are_finite_with_duplicates(metric):
    inputs = torch.randn(64, 30)
    inputs[1] = inputs[0]
    inputs[5] = inputs[0]
    inputs[2] = inputs[3]
    inputs = inputs.requires_grad_(True)
    module = MLP(30, 3, hidden_sizes=(40,))
    logits, hidden = module(inputs)
    batch = PenaltyBatch(inputs, hidden, logits, torch.randint(0, 2, (64,)), module)
    value = IsometryPenalty(metric=metric)(batch)
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(inputs.grad).all()
    for param in module.encoder.parameters():  # the head does not shape the hidden layer
        assert torch.isfinite(param.grad).all()
    assert module.encoder[0].weight.grad.abs().sum() > 0


def test_isometry_zero_distance_has_zero_gradient():
    # duplicated hidden rows of distinct inputs: the distance sits at its kink
    hidden = torch.randn(6, 4)
    hidden[1] = hidden[0]
    hidden.requires_grad_(True)
    inputs = torch.randn(6, 3)
    IsometryPenalty(scope="global").term(hidden_batch(hidden, inputs)).backward()
    assert torch.isfinite(hidden.grad).all()
    # the diagonal and the duplicate contribute nothing: compare with a float64
    # reference that drops the pair (0, 1)
    reference = hidden.detach().double().requires_grad_(True)
    gaps = torch.cdist(inputs.double(), inputs.double()) - torch.cdist(reference, reference)
    keep = ~torch.eye(6, dtype=torch.bool)
    keep[0, 1] = keep[1, 0] = False
    safe = torch.where(keep, gaps, torch.zeros_like(gaps))
    (safe.pow(2).sum() / 36 + gaps[0, 1].detach() ** 2 / 18).backward()
    torch.testing.assert_close(hidden.grad.double(), reference.grad, rtol=1e-4, atol=1e-6)


def test_isometry_distances_are_exact_at_zero():
    inputs = torch.randn(50, 16) + 100.0  # far from the origin: round-off prone
    inputs[7] = inputs[3]
    hidden = inputs.clone()
    value = IsometryPenalty(scope="global").term(hidden_batch(hidden, inputs))
    assert value.item() == 0.0


def test_isometry_flattens_image_inputs():
    images = torch.randn(10, 1, 4, 4)
    hidden = torch.randn(10, 6)
    targets = torch.arange(10) % 2
    from_images = IsometryPenalty().term(hidden_batch(hidden, images, targets))
    from_rows = IsometryPenalty().term(hidden_batch(hidden, images.reshape(10, -1), targets))
    assert from_images.item() == pytest.approx(from_rows.item(), rel=1e-6)


def test_isometry_on_a_realistic_batch():
    module = MLP(64, 10, hidden_sizes=(100,))
    batch = make_batch(module, torch.randn(128, 64), torch.randint(0, 10, (128,)))
    for scope in ("class", "global"):
        value = IsometryPenalty(scope=scope)(batch)
        assert value.shape == () and torch.isfinite(value) and value.item() > 0


@pytest.mark.parametrize("labels", ["balanced", "one dominant class", "many singletons"])
def test_isometry_blocks_match_the_masked_full_matrix(labels):
    """Per-class blocks and the full-matrix fallback give the paper's formula alike."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(60, 5, dtype=torch.float64, generator=generator)
    hidden = torch.randn(60, 7, dtype=torch.float64, generator=generator)
    targets = {
        "balanced": torch.arange(60) % 3,
        "one dominant class": torch.cat([torch.zeros(50), torch.arange(1, 11)]).long(),
        "many singletons": torch.arange(60) // 2,
    }[labels]
    same = (targets[:, None] == targets[None, :]).double()
    gap = torch.cdist(inputs, inputs) - torch.cdist(hidden, hidden)
    expected = (same * gap).pow(2).sum() / 60**2
    batch = PenaltyBatch(inputs, hidden, None, targets, None)
    assert IsometryPenalty(1.0)(batch).item() == pytest.approx(expected.item(), rel=1e-9)


def test_eigenbasis_falls_back_to_svd_when_eigh_fails(monkeypatch):
    from sklearn_robust.nn import penalties

    hidden = torch.randn(50, 6, generator=torch.Generator().manual_seed(0))
    expected_vectors, expected_values = penalties._eigenbasis(hidden)

    def failing_eigh(matrix):
        raise torch.linalg.LinAlgError("linalg.eigh: The algorithm failed to converge")

    monkeypatch.setattr(penalties.torch.linalg, "eigh", failing_eigh)
    vectors, values = penalties._eigenbasis(hidden)
    torch.testing.assert_close(values, expected_values, rtol=1e-5, atol=1e-6)
    # Eigenvectors agree up to sign.
    torch.testing.assert_close((vectors * expected_vectors).sum(0).abs(), torch.ones(6))
