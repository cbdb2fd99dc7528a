"""Data augmentation of training batches, on the torch side."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .conv import image_shape

__all__ = ["RandomCropFlip"]


class RandomCropFlip(nn.Module):
    """The standard CIFAR augmentation: a random crop of the zero-padded image and a random flip.

    Each image of the batch is padded with ``padding`` zeros on every side, a
    window of the original size is cut at a random offset, and the result is
    mirrored left-right with probability 1/2. One vectorised gather serves the
    whole batch. Random numbers come from torch's global generator, which
    :class:`~sklearn_robust.nn.RobustNetClassifier` seeds from its
    ``random_state``, so training stays reproducible.

    Pass it as ``RobustNetClassifier(augmentation=RandomCropFlip())``: it is
    applied to training batches only, never to validation data or predictions.

    Parameters
    ----------
    input_shape : tuple of int, default=(3, 32, 32)
        (channels, height, width) of one image.
    padding : int, default=4
        Zeros added on each side before cropping (0: no crop).
    flip : bool, default=True
        Mirror half of the images left-right.

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust.nn import RandomCropFlip
    >>> augment = RandomCropFlip(input_shape=(1, 4, 4), padding=1)
    >>> augment(torch.ones(5, 16)).shape
    torch.Size([5, 16])
    """

    def __init__(self, input_shape=(3, 32, 32), padding=4, flip=True):
        super().__init__()
        self.input_shape = image_shape(input_shape)
        if int(padding) < 0:
            raise ValueError(f"padding must be >= 0; got {padding!r}.")
        self.padding = int(padding)
        self.flip = bool(flip)

    @torch.no_grad()
    def forward(self, x):
        """Augment a batch.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, n_features) or (n_samples, *input_shape)
            Flattened or unflattened images.

        Returns
        -------
        torch.Tensor
            The augmented batch, of the shape of ``x``.
        """
        images = x.reshape(-1, *self.input_shape)
        n, _, height, width = images.shape
        rows = torch.arange(height, device=x.device).expand(n, height)
        cols = torch.arange(width, device=x.device).expand(n, width)
        if self.padding:
            images = F.pad(images, [self.padding] * 4)
            offsets = torch.randint(0, 2 * self.padding + 1, (2, n, 1), device=x.device)
            rows, cols = rows + offsets[0], cols + offsets[1]
        if self.flip:
            mirrored = torch.rand(n, 1, device=x.device) < 0.5
            cols = torch.where(mirrored, cols.flip(1), cols)
        batch = torch.arange(n, device=x.device)[:, None, None]
        # (n, height, width, channels) after advanced indexing; back to channel-first
        cropped = images.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
        return cropped.permute(0, 3, 1, 2).reshape(x.shape)
