"""The benchmark's workload: ResNet-50 image classification, shared by every variant.

One module so that every design (Spark, Triton, Ray Data, plain Python) runs the same decode,
the same preprocessing and the same model:

- ``preprocess(jpeg_bytes)``: decode, resize the short side to 256, center-crop 224, normalize
  with the ImageNet mean/std -> float32 (3, 224, 224); ``preprocess_batch`` stacks them.
- ``ResNet50``: torchvision's ResNet-50 (v1.5, stride in the 3x3 conv), written out here because
  PyPI's torchvision does not import beside the CPU torch wheel. Parameter
  names match torchvision's, so torchvision's ImageNet checkpoint loads into it unchanged.
- ``build_model(pretrained)``: torchvision's IMAGENET1K_V2 weights by URL when online; offline the
  same architecture with random weights from a fixed seed (every process builds the identical
  model, so predictions agree across variants).
- ``Predictor``: a loaded model behind ``predict(float32 batch) -> (class, score)``, one math
  thread per process by default (one process per core is the layout every variant uses), run
  eagerly or by another runtime of ``dl_helpers.models`` (``backend="onnxruntime"``...).

The model classes live at module level so that a pickled model (the naive variant broadcasts
one) unpickles wherever this module imports.
"""

from __future__ import annotations

import io
import os

import numpy as np
import torch
from torch import nn

IMAGE_SIZE = 224
RESIZE_SIZE = 256
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
NUM_CLASSES = 1000
SEED = 0

# torchvision.models.ResNet50_Weights.IMAGENET1K_V2 (top-1 80.858%). Loaded with
# torch.hub.load_state_dict_from_url, so torchvision itself is not needed.
PRETRAINED_URL = "https://download.pytorch.org/models/resnet50-11ad3fa6.pth"


# ---------------------------------------------------------------------------------------------
# Preprocessing (CPU)
# ---------------------------------------------------------------------------------------------
def decode_resize_crop(data: bytes) -> np.ndarray:
    """JPEG bytes -> uint8 (224, 224, 3): short side resized to 256 (bilinear), center crop.

    The same steps as torchvision's ``Resize(256), CenterCrop(224)`` on a PIL image (no
    ``Image.draft`` shortcut, which would decode at reduced scale and change the work).
    """
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return resize_crop(img)


def resize_crop(img) -> np.ndarray:
    """An opened PIL image -> uint8 (224, 224, 3), as :func:`decode_resize_crop` (which decodes
    the bytes into it: PIL decodes on ``convert``)."""
    from PIL import Image

    img = img.convert("RGB")
    w, h = img.size
    if w <= h:
        nw, nh = RESIZE_SIZE, max(1, round(h * RESIZE_SIZE / w))
    else:
        nw, nh = max(1, round(w * RESIZE_SIZE / h)), RESIZE_SIZE
    img = img.resize((nw, nh), Image.BILINEAR)
    left = (nw - IMAGE_SIZE) // 2
    top = (nh - IMAGE_SIZE) // 2
    img = img.crop((left, top, left + IMAGE_SIZE, top + IMAGE_SIZE))
    return np.asarray(img, dtype=np.uint8)


def normalize(hwc_uint8: np.ndarray) -> np.ndarray:
    """uint8 (..., 224, 224, 3) -> float32 (..., 3, 224, 224), ImageNet mean/std."""
    x = hwc_uint8.astype(np.float32) * np.float32(1 / 255)
    x -= MEAN
    x /= STD
    return np.ascontiguousarray(np.moveaxis(x, -1, -3))


def preprocess(data: bytes) -> np.ndarray:
    """JPEG bytes -> float32 (3, 224, 224), ready for the model."""
    return normalize(decode_resize_crop(data))


def preprocess_image(img) -> np.ndarray:
    """An opened PIL image -> float32 (3, 224, 224): :func:`preprocess` after the open."""
    return normalize(resize_crop(img))


def preprocess_batch(images) -> np.ndarray:
    """A sequence of JPEG bytes -> float32 (n, 3, 224, 224)."""
    if len(images) == 0:
        return np.empty((0, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    return normalize(np.stack([decode_resize_crop(b) for b in images]))


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------
class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50(nn.Module):
    """torchvision.models.resnet50, same module tree and parameter names."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._layer(64, 3)
        self.layer2 = self._layer(128, 4, stride=2)
        self.layer3 = self._layer(256, 6, stride=2)
        self.layer4 = self._layer(512, 3, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2048, num_classes)
        # torchvision's initialisation
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _layer(self, planes: int, blocks: int, stride: int = 1):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * 4),
            )
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resolve_pretrained(pretrained: bool | None = None) -> bool:
    """True: ImageNet weights. Default: yes unless DL_HELPERS_OFFLINE is set to a true value."""
    if pretrained is not None:
        return bool(pretrained)
    return os.environ.get("DL_HELPERS_OFFLINE", "").strip().lower() not in {"1", "true", "yes"}


def build_model(pretrained: bool | None = None, seed: int = SEED):
    """ResNet-50 in eval mode. Random weights (seeded, identical in every process) or ImageNet.

    ``pretrained=None`` follows DL_HELPERS_OFFLINE; with pretrained weights requested and no
    network the download error propagates (no silent fallback: a benchmark must say which model
    it measured).
    """
    torch.manual_seed(seed)
    model = ResNet50()
    if resolve_pretrained(pretrained):
        state = torch.hub.load_state_dict_from_url(
            PRETRAINED_URL, map_location="cpu", progress=False, check_hash=True
        )
        model.load_state_dict(state)
    else:
        # Random weights put the logits ~15 apart: softmax scores of 1.0 for every image, which
        # says nothing when comparing variants. A smaller classifier keeps the scores spread.
        with torch.no_grad():
            model.fc.weight.mul_(0.1)
    return model.eval()


def set_threads(threads: int | None) -> None:
    """Math threads of this process (intra-op); None keeps torch's choice."""
    if threads:
        torch.set_num_threads(int(threads))


class Predictor:
    """A loaded ResNet-50: ``predict(x)`` takes float32 (n, 3, 224, 224) and returns
    ``(class int64 (n,), score float32 (n,))``, score being the top softmax probability."""

    def __init__(
        self,
        pretrained: bool | None = None,
        threads: int | None = 1,
        channels_last: bool = False,
        backend: str = "eager",
    ):
        set_threads(threads)
        self.channels_last = channels_last
        self.model = build_model(pretrained)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        if backend != "eager":
            # ONNX Runtime / torch.compile / TensorRT through dl_helpers, checked against eager
            # on one batch; strict: a benchmark must run the runtime it names, not a fallback.
            from dl_helpers.models import compile_model

            example = torch.randn(
                2, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(SEED)
            )
            if channels_last:
                example = example.contiguous(memory_format=torch.channels_last)
            self.model = compile_model(
                self.model, example, backend=backend, strict=True, quiet=True, threads=threads
            )

    def logits(self, x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        if self.channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return self.model(t).numpy()

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(x) == 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        return top1(self.logits(x))

    def predict_jpeg(self, images, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Decode, preprocess and classify JPEG bytes in batches of ``batch_size``."""
        classes, scores = [], []
        for i in range(0, len(images), batch_size):
            c, s = self.predict(preprocess_batch(images[i : i + batch_size]))
            classes.append(c)
            scores.append(s)
        if not classes:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        return np.concatenate(classes), np.concatenate(scores)


def top1(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logits (n, 1000) -> (argmax class int64, its softmax probability float32)."""
    logits = np.asarray(logits, dtype=np.float32)
    m = logits.max(axis=1, keepdims=True)
    p = np.exp(logits - m)
    p /= p.sum(axis=1, keepdims=True)
    cls = logits.argmax(axis=1).astype(np.int64)
    return cls, p[np.arange(len(cls)), cls].astype(np.float32)
