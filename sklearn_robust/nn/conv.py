"""Convolutional networks for images: a plain ConvNet and a CIFAR-style ResNet with its plain twin.

Both take the flattened rows scikit-learn passes (or images) and return
``(logits, hidden)``, ``hidden`` being the globally pooled penultimate features,
so that :class:`~sklearn_robust.nn.RobustNetClassifier` trains them with any
penalty. Their stages are named ``layer1``, ``layer2``, ... as in torchvision,
so that ``LayerActivations(model, "layer2")`` and ``VectorCodes`` read their
feature maps.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["BasicBlock", "ConvNet", "ResNet"]


def image_shape(input_shape, n_features=None):
    """``input_shape`` as a (channels, height, width) tuple, checked against ``n_features``."""
    try:
        shape = tuple(int(size) for size in input_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            f"input_shape must be (channels, height, width) of positive sizes; got {input_shape!r}."
        )
    if n_features is not None and n_features != math.prod(shape):
        raise ValueError(
            f"input_shape {shape} holds {math.prod(shape)} values per image, but the data "
            f"has {n_features} features; give the images' shape as module__input_shape."
        )
    return shape


def _check_widths(widths, name="widths"):
    widths = tuple(int(width) for width in widths)
    if not widths or min(widths) < 1:
        raise ValueError(f"{name} must be a non-empty tuple of positive integers; got {widths!r}.")
    return widths


def _as_images(x, input_shape):
    """Rows (n, C*H*W) as images (n, C, H, W); images pass unchanged."""
    return x.reshape(-1, *input_shape) if x.ndim == 2 else x


def _conv_bn_relu(in_channels, out_channels):
    return [
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    ]


class _ImageNetwork(nn.Module):
    """Shared forward pass: images -> stem -> stages -> global average pool -> fc."""

    def forward(self, x):
        """Compute the logits and the pooled penultimate features.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, n_features) or (n_samples, *input_shape)
            Flattened images (channel-first, as ``load_cifar10`` gives them) or images.

        Returns
        -------
        logits : torch.Tensor of shape (n_samples, n_classes)
            The read-out of the pooled features.
        hidden : torch.Tensor of shape (n_samples, widths[-1])
            The last stage's feature maps averaged over space.
        """
        features = self.stem(_as_images(x, self.input_shape))
        for name in self.hidden_layer_names():
            features = getattr(self, name)(features)
        hidden = torch.flatten(self.pool(features), 1)
        return self.fc(hidden), hidden

    def hidden_layer_names(self):
        """Names of the stages, first to last: ``["layer1", "layer2", ...]``.

        Returns
        -------
        names : list of str
            Submodule names whose outputs are the stages' feature maps.
        """
        return [f"layer{index}" for index in range(1, self.n_stages + 1)]


class ConvNet(_ImageNetwork):
    """A plain convolutional network: stages of conv-BN-ReLU layers, each ending in max-pooling.

    Stage ``i`` holds ``convs_per_stage`` 3x3 convolutions of ``widths[i]``
    channels (each followed by batch normalisation and ReLU) and halves the
    image with 2x2 max-pooling. The last stage's maps are averaged over space
    (``hidden``) and read out linearly.

    Parameters
    ----------
    n_features : int or None, default=None
        Width of the flattened input rows (filled in by the classifier); checked
        against ``input_shape``.
    n_classes : int, default=10
        Number of outputs (filled in by the classifier).
    input_shape : tuple of int, default=(3, 32, 32)
        (channels, height, width) of one image; rows are reshaped to it.
    widths : tuple of int, default=(32, 64, 128)
        Channels of each stage.
    convs_per_stage : int, default=2
        Convolutions per stage.

    Attributes
    ----------
    stem : torch.nn.Identity
        Nothing: the first stage reads the image (present so that every network
        here has the same parts).
    layer1, layer2, ... : torch.nn.Sequential
        The stages.
    pool : torch.nn.AdaptiveAvgPool2d
        Global average pooling of the last stage.
    fc : torch.nn.Linear
        The linear read-out.

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust.nn import ConvNet
    >>> net = ConvNet(n_classes=10, input_shape=(3, 8, 8), widths=(4, 8))
    >>> logits, hidden = net(torch.zeros(2, 3 * 8 * 8))
    >>> tuple(logits.shape), tuple(hidden.shape), net.hidden_layer_names()
    ((2, 10), (2, 8), ['layer1', 'layer2'])
    """

    def __init__(
        self,
        n_features=None,
        n_classes=10,
        *,
        input_shape=(3, 32, 32),
        widths=(32, 64, 128),
        convs_per_stage=2,
    ):
        super().__init__()
        self.input_shape = image_shape(input_shape, n_features)
        widths = _check_widths(widths)
        if int(convs_per_stage) < 1:
            raise ValueError(f"convs_per_stage must be >= 1; got {convs_per_stage!r}.")
        self.n_stages = len(widths)
        self.stem = nn.Identity()
        channels = self.input_shape[0]
        for index, width in enumerate(widths, start=1):
            layers = []
            for _ in range(int(convs_per_stage)):
                layers += _conv_bn_relu(channels, width)
                channels = width
            layers.append(nn.MaxPool2d(2))
            setattr(self, f"layer{index}", nn.Sequential(*layers))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, n_classes)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity skip: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + x)``.

    Where the block halves the image and widens the channels, the skip is He et
    al.'s parameter-free shortcut for CIFAR ("option A"): ``x`` subsampled by the
    stride and zero-padded to the new width. So ``residual=False`` removes the
    skip and nothing else: the twins have the same parameters.

    Parameters
    ----------
    in_channels : int
        Channels of the input maps.
    out_channels : int
        Channels of the output maps.
    stride : int, default=1
        Stride of the first convolution (2 halves the image).
    residual : bool, default=True
        Add the skip connection; False gives the plain block.

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust.nn import BasicBlock
    >>> BasicBlock(4, 8, stride=2)(torch.zeros(1, 4, 6, 6)).shape
    torch.Size([1, 8, 3, 3])
    """

    def __init__(self, in_channels, out_channels, stride=1, residual=True):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.stride = stride
        self.extra_channels = out_channels - in_channels
        self.residual = residual

    def forward(self, x):
        """Apply the block.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, in_channels, height, width)
            Input maps.

        Returns
        -------
        torch.Tensor of shape (n_samples, out_channels, height / stride, width / stride)
            Output maps.
        """
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.residual:
            out = out + self.shortcut(x)
        return F.relu(out)

    def shortcut(self, x):
        """The skip: ``x`` subsampled by the stride and zero-padded to the output's channels.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, in_channels, height, width)
            Input maps.

        Returns
        -------
        torch.Tensor of shape (n_samples, out_channels, height / stride, width / stride)
            What the block adds to its convolutions' output.
        """
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra_channels:
            half = self.extra_channels // 2
            x = F.pad(x, (0, 0, 0, 0, half, self.extra_channels - half))
        return x


class ResNet(_ImageNetwork):
    """A CIFAR-style residual network of basic blocks, or its plain twin (``residual=False``).

    A 3x3 conv-BN-ReLU stem with ``widths[0]`` channels, then one stage per
    entry of ``blocks``: stage ``i`` holds ``blocks[i]`` :class:`BasicBlock`
    of ``widths[i]`` channels, the first halving the image (except in stage 1).
    The last stage's maps are averaged over space (``hidden``) and read out
    linearly. Depth (weighted layers) is ``2 * sum(blocks) + 2``:

    - the defaults are He et al.'s ResNet-20 for CIFAR-10 (0.27 M parameters);
    - ``blocks=(5, 5, 5)`` is ResNet-32, ``blocks=(9, 9, 9)`` ResNet-56;
    - ``blocks=(2, 2, 2, 2), widths=(64, 128, 256, 512)`` is a four-stage
      ResNet-18-like network (with CIFAR's 3x3 stem and parameter-free shortcuts).

    ``residual=False`` gives the same network without skip connections, with
    the same parameters (see :class:`BasicBlock`), so that a residual network
    and its plain twin differ only in the skips.

    Parameters
    ----------
    n_features : int or None, default=None
        Width of the flattened input rows (filled in by the classifier); checked
        against ``input_shape``.
    n_classes : int, default=10
        Number of outputs (filled in by the classifier).
    input_shape : tuple of int, default=(3, 32, 32)
        (channels, height, width) of one image; rows are reshaped to it.
    blocks : tuple of int, default=(3, 3, 3)
        Basic blocks per stage.
    widths : tuple of int, default=(16, 32, 64)
        Channels of each stage (as many as ``blocks``).
    residual : bool, default=True
        Skip connections; False gives the plain twin.

    Attributes
    ----------
    stem : torch.nn.Sequential
        The first conv-BN-ReLU.
    layer1, layer2, ... : torch.nn.Sequential
        The stages, each a sequence of :class:`BasicBlock`.
    pool : torch.nn.AdaptiveAvgPool2d
        Global average pooling of the last stage.
    fc : torch.nn.Linear
        The linear read-out.

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust.nn import ResNet
    >>> residual = ResNet(n_classes=10, input_shape=(3, 8, 8), blocks=(1, 1), widths=(4, 8))
    >>> plain = ResNet(n_classes=10, input_shape=(3, 8, 8), blocks=(1, 1), widths=(4, 8),
    ...                residual=False)
    >>> _ = plain.load_state_dict(residual.state_dict())  # the same parameters
    >>> logits, hidden = residual(torch.zeros(2, 3 * 8 * 8))
    >>> tuple(logits.shape), tuple(hidden.shape)
    ((2, 10), (2, 8))
    """

    def __init__(
        self,
        n_features=None,
        n_classes=10,
        *,
        input_shape=(3, 32, 32),
        blocks=(3, 3, 3),
        widths=(16, 32, 64),
        residual=True,
    ):
        super().__init__()
        self.input_shape = image_shape(input_shape, n_features)
        blocks, widths = _check_widths(blocks, "blocks"), _check_widths(widths)
        if len(blocks) != len(widths):
            raise ValueError(
                f"blocks and widths need one entry per stage; got {len(blocks)} and {len(widths)}."
            )
        if any(later < earlier for earlier, later in itertools.pairwise(widths)):
            raise ValueError(
                f"widths must not decrease (the shortcuts zero-pad channels); got {widths!r}."
            )
        self.n_stages = len(widths)
        self.residual = bool(residual)
        self.stem = nn.Sequential(*_conv_bn_relu(self.input_shape[0], widths[0]))
        channels = widths[0]
        for index, (n_blocks, width) in enumerate(zip(blocks, widths, strict=True), start=1):
            stage = []
            for position in range(n_blocks):
                stride = 2 if position == 0 and index > 1 else 1
                stage.append(BasicBlock(channels, width, stride, self.residual))
                channels = width
            setattr(self, f"layer{index}", nn.Sequential(*stage))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, n_classes)
        for module in self.modules():  # He initialisation, as in the paper and torchvision
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
