"""Tests for sklearn_robust.nn.augmentation (RandomCropFlip)."""

import numpy as np
import pytest
import torch

from sklearn_robust.nn import RandomCropFlip, RobustNetClassifier


def images(n=16, shape=(2, 5, 6)):
    return torch.arange(n * np.prod(shape), dtype=torch.float32).reshape(n, *shape) + 1


def crops_of(image, padding, flip):
    """Every window the augmentation may return for one image: a slow reference."""
    _, h, w = image.shape
    padded = torch.nn.functional.pad(image, [padding] * 4)
    out = []
    for top in range(2 * padding + 1):
        for left in range(2 * padding + 1):
            crop = padded[:, top : top + h, left : left + w]
            out.append(crop)
            if flip:
                out.append(crop.flip(-1))
    return out


@pytest.mark.parametrize(("padding", "flip"), [(0, True), (2, False), (2, True)])
def test_every_output_is_a_crop_or_mirror_of_its_own_image(padding, flip):
    x = images()
    torch.manual_seed(0)
    out = RandomCropFlip(x.shape[1:], padding=padding, flip=flip)(x.reshape(len(x), -1))
    out = out.reshape(x.shape)
    for image, augmented in zip(x, out, strict=True):
        assert any(torch.equal(augmented, crop) for crop in crops_of(image, padding, flip))


def test_identity_without_padding_or_flip():
    x = images().reshape(16, -1)
    assert torch.equal(RandomCropFlip((2, 5, 6), padding=0, flip=False)(x), x)


def test_draws_cover_offsets_and_flips_and_follow_the_seed():
    x = images(n=400, shape=(1, 3, 3))
    augment = RandomCropFlip((1, 3, 3), padding=1)
    torch.manual_seed(1)
    first = augment(x)
    torch.manual_seed(1)
    assert torch.equal(augment(x), first)
    kinds = set()
    for image, augmented in zip(x, first, strict=True):
        crops = crops_of(image, 1, True)
        kinds.add(next(i for i, crop in enumerate(crops) if torch.equal(augmented, crop)))
    assert kinds == set(range(18))  # 9 offsets x 2 orientations, all drawn


def test_bad_arguments():
    with pytest.raises(ValueError, match="padding"):
        RandomCropFlip(padding=-1)
    with pytest.raises(ValueError, match="input_shape"):
        RandomCropFlip(input_shape=(3, 32))


def test_classifier_augments_training_batches_only():
    seen = []

    def record(batch):
        seen.append(batch.shape[0])
        return batch

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    clf = RobustNetClassifier(
        augmentation=record, max_epochs=2, batch_size=20, early_stopping=True,
        validation_fraction=0.2, random_state=0, device="cpu",
    ).fit(X, y)  # fmt: skip
    assert seen == [20, 20, 20, 20]  # 40 training rows, 2 epochs; no validation batches
    clf.predict(X)
    assert len(seen) == 4
