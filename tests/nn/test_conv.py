"""Tests for sklearn_robust.nn.conv (ConvNet, ResNet and its plain twin)."""

import numpy as np
import pytest
import torch
from skorch.callbacks import LRScheduler

from sklearn_robust import LayerActivations
from sklearn_robust.datasets import load_cifar10
from sklearn_robust.nn import BasicBlock, ConvNet, RandomCropFlip, ResNet, RobustNetClassifier

from ..conftest import CIFAR_SUBSET

TINY = {"input_shape": (3, 8, 8), "blocks": (1, 2), "widths": (4, 8)}


def tiny(network, input_shape=(3, 8, 8), widths=(4, 8), **kwargs):
    """A small ConvNet or ResNet (one block per stage) on small images."""
    if network is ResNet:
        kwargs.setdefault("blocks", (1,) * len(widths))
    return network(input_shape=input_shape, widths=widths, **kwargs)


def bright_channel_images(n_samples=90, size=8, seed=0):
    """Images whose class is the colour channel that is brighter: an easy task for a CNN."""
    rng = np.random.default_rng(seed)
    images = rng.random((n_samples, 3, size, size), dtype=np.float32) * 0.5
    y = np.arange(n_samples) % 3
    images[np.arange(n_samples), y] += 0.5
    return images.reshape(n_samples, -1), y


def test_resnet20_has_he_et_al_depth_and_parameter_count():
    net = ResNet(n_classes=10)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert len(convs) + len(linears) == 20  # 2 * (3 + 3 + 3) + 2 weighted layers
    # He et al. (2016), Table 6: ResNet-20 has 0.27 M parameters.
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(0.27e6, rel=0.01)


def test_resnet18_like_variant_has_four_stages():
    net = ResNet(n_classes=10, blocks=(2, 2, 2, 2), widths=(64, 128, 256, 512))
    assert net.hidden_layer_names() == ["layer1", "layer2", "layer3", "layer4"]
    logits, hidden = net(torch.zeros(2, 3072))
    assert logits.shape == (2, 10) and hidden.shape == (2, 512)


@pytest.mark.parametrize("network", [ConvNet, ResNet])
def test_rows_and_images_give_the_same_output(network):
    torch.manual_seed(0)
    net = tiny(network, n_classes=5).eval()
    images = torch.rand(4, 3, 8, 8)
    rows_out = net(images.reshape(4, -1))
    images_out = net(images)
    for a, b in zip(rows_out, images_out, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("network", [ConvNet, ResNet])
def test_rows_are_read_channel_first(network):
    """Rows are CIFAR's layout: all red values, then green, then blue, each row-major."""
    net = tiny(network, n_classes=2, input_shape=(3, 4, 4), widths=(2,))
    seen = []
    first = net.stem if isinstance(net.stem, torch.nn.Sequential) else net.layer1
    first.register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0]))
    row = torch.zeros(1, 48)
    row[0, 16:32] = torch.arange(16.0)  # the green plane
    net(row)
    image = seen[0][0]
    assert torch.equal(image[1], torch.arange(16.0).reshape(4, 4))
    assert not image[0].any() and not image[2].any()


def test_twins_have_the_same_parameters():
    residual, plain = ResNet(**TINY), ResNet(**TINY, residual=False)
    shapes = {name: p.shape for name, p in residual.state_dict().items()}
    assert shapes == {name: p.shape for name, p in plain.state_dict().items()}


def test_twins_differ_only_in_the_skips():
    torch.manual_seed(0)
    residual = ResNet(**TINY).eval()
    plain = ResNet(**TINY, residual=False).eval()
    plain.load_state_dict(residual.state_dict())
    x = torch.rand(3, 3 * 8 * 8)
    assert not torch.allclose(residual(x)[0], plain(x)[0])
    for block in residual.modules():
        if isinstance(block, BasicBlock):
            block.shortcut = lambda x: torch.zeros(())  # the skip removed by hand
    torch.testing.assert_close(residual(x)[0], plain(x)[0])


def test_shortcut_subsamples_and_zero_pads_the_channels():
    block = BasicBlock(4, 8, stride=2)
    x = torch.rand(2, 4, 6, 6)
    skip = block.shortcut(x)
    assert skip.shape == (2, 8, 3, 3)
    torch.testing.assert_close(skip[:, 2:6], x[:, :, ::2, ::2])
    assert not skip[:, :2].any() and not skip[:, 6:].any()


def test_residual_block_adds_its_input():
    torch.manual_seed(0)
    block = BasicBlock(4, 4).eval()
    x = torch.rand(2, 4, 5, 5)
    plain = BasicBlock(4, 4, residual=False).eval()
    plain.load_state_dict(block.state_dict())
    convs = block.bn2(block.conv2(torch.relu(block.bn1(block.conv1(x)))))
    torch.testing.assert_close(block(x), torch.relu(convs + x))
    torch.testing.assert_close(plain(x), torch.relu(convs))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_features": 100}, "holds 3072 values per image, but the data has 100"),
        ({"input_shape": (3, 32)}, "input_shape must be"),
        ({"widths": ()}, "widths must be"),
        ({"blocks": (1, 1), "widths": (4,)}, "one entry per stage"),
        ({"blocks": (1, 1), "widths": (8, 4)}, "must not decrease"),
    ],
)
def test_resnet_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResNet(**kwargs)


def test_convnet_bad_arguments():
    with pytest.raises(ValueError, match="convs_per_stage"):
        ConvNet(convs_per_stage=0)
    with pytest.raises(ValueError, match="holds 48 values"):
        ConvNet(n_features=10, input_shape=(3, 4, 4))


@pytest.mark.parametrize("module", [ResNet, ResNet, ConvNet], ids=["residual", "plain", "convnet"])
def test_classifier_trains_image_networks(module, request):
    X, y = bright_channel_images()
    params = {"module__input_shape": (3, 8, 8), "module__widths": (8, 16)}
    if module is ResNet:
        params |= {"module__blocks": (1, 1), "module__residual": "plain" not in request.node.name}
    clf = RobustNetClassifier(
        module, max_epochs=15, lr=1e-2, random_state=0, device="cpu", **params
    ).fit(X, y)
    assert clf.score(X, y) > 0.9
    assert clf.transform(X).shape == (len(X), 16)
    assert clf.transform(X, layer=0).shape[1] == 8 * (8 * 8 if module is ResNet else 4 * 4)


def test_input_shape_mismatch_fails_before_training():
    X, y = bright_channel_images()
    clf = RobustNetClassifier(ResNet, device="cpu")  # default input_shape (3, 32, 32)
    with pytest.raises(ValueError, match="give the images' shape as module__input_shape"):
        clf.fit(X, y)


def test_stages_are_probed_by_name():
    X, y = bright_channel_images()
    clf = RobustNetClassifier(
        ResNet, module__input_shape=(3, 8, 8), module__blocks=(1, 1), module__widths=(4, 8),
        max_epochs=1, random_state=0, device="cpu",
    ).fit(X, y)  # fmt: skip
    probe = LayerActivations(clf, ["layer1", "layer2"], pooling="vector_code").fit(X)
    codes = probe.transform(X)
    assert codes["layer1"].shape == (len(X), 4 * 4) and codes["layer2"].shape == (len(X), 4 * 8)
    assert probe.output_shapes_ == {"layer1": (4, 8, 8), "layer2": (8, 4, 4)}


def test_augmented_training_is_reproducible_and_differs_from_plain():
    X, y = bright_channel_images()
    params = {
        "module__input_shape": (3, 8, 8), "module__widths": (4,), "max_epochs": 2,
        "random_state": 0, "device": "cpu",
    }  # fmt: skip
    augment = RandomCropFlip((3, 8, 8), padding=2)
    first = RobustNetClassifier(ConvNet, augmentation=augment, **params).fit(X, y)
    again = RobustNetClassifier(ConvNet, augmentation=augment, **params).fit(X, y)
    plain = RobustNetClassifier(ConvNet, **params).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), again.predict_proba(X))
    assert not np.allclose(first.predict_proba(X), plain.predict_proba(X))


@pytest.mark.slow
def test_convnet_beats_the_linear_baseline_on_the_real_cifar_subset():
    """The real CIFAR-10 subset (4,660 / 846 images): PCA(100) + logistic regression gets 0.32."""
    if not CIFAR_SUBSET.is_file():
        pytest.skip(f"the real CIFAR-10 subset is not at {CIFAR_SUBSET}")
    X, y = load_cifar10(CIFAR_SUBSET, split="train", return_X_y=True)
    X_test, y_test = load_cifar10(CIFAR_SUBSET, split="test", return_X_y=True)
    epochs = 5
    clf = RobustNetClassifier(
        ConvNet, max_epochs=epochs, batch_size=64, lr=2e-3, random_state=0, device="cpu",
        callbacks=[LRScheduler(policy="CosineAnnealingLR", T_max=epochs)],
    ).fit(X, y)  # fmt: skip
    assert clf.score(X_test, y_test) >= 0.45


def test_l2_penalty_decays_the_filters_not_the_read_out():
    from sklearn_robust.nn.penalties import encoding_weights

    net = ResNet(**TINY)
    weights = encoding_weights(net)
    assert not any(w is net.fc.weight for w in weights)
    convs = [m.weight for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(weights) == len(convs) and all(any(w is c for c in convs) for w in weights)
