"""Streaming inference for one video: the session owns the memories, the model stays stateless.

    session = InferenceSession(model, memory="restricted", long_term_gap=5)
    session.add_reference(first_image, first_mask)
    for image in frames:
        out = session.step(image)        # = predict(image), then update(out.label)

Per frame the session encodes the image once, propagates each group of up to ``max_objects``
objects through its own memories (a ``GroupMemory``: long-term bank with its eviction policy,
short-term memory, write schedule), decodes identity logits and, on ``update``, writes the frame
into the memories. Every ``long_term_gap`` frames the frame is appended to the long-term memory;
the policy then decides what to evict (see ``aot_plus.memory``), and ``memory_events`` records it.

With test-time augmentation (``scales``, ``flip``) each augmentation is a view with its own encoding
and memories; the views' probabilities are averaged (see ``aot_plus.inference.augmentation``).

On a GPU the device work of a frame is replayed from CUDA graphs (``cuda_graph``): the encoder while the
banks fill, the whole prediction once every bank is full (``aot_plus.inference.graphs``).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..labels import IGNORE_ID
from ..memory import (
    GroupMemory,
    MemoryConfig,
    MemoryEvent,
    MemoryPolicy,
    PolicyFactory,
    model_memory_config,
    policy_factory,
)
from ..models import AOT, Propagation, mask_unused_slots
from .augmentation import Augmentation, augmentations, average_probabilities, mirror
from .graphs import Graph, Recorder, record_cuda_graph
from .objects import ObjectIds, group_label
from .preprocess import TEST_MAX_SIZE, Image, check_image, preprocess_image

logger = logging.getLogger(__name__)


class Prediction:
    """Output of ``InferenceSession.predict``; tensors stay on the model's device.

    ``logits``: decoder logits at stride 4 before upsampling, (groups, max_objects + 1, h, w), of the
    first augmentation (as it sees the frame: mirrored for a flipped one).
    ``probs``: probabilities over object indices at the original frame size, (1, C, H, W), averaged
    over the augmentations.
    ``label``: (H, W) uint8 numpy argmax of ``probs``, in object indices (``session.object_ids`` maps
    them). On a GPU its copy to the host starts with the prediction, without waiting; reading ``label``
    waits for that copy only, so a loop that reads it a frame later (``propagate_video``) or never does
    not keep the device idle.
    """

    def __init__(self, logits: torch.Tensor, probs: torch.Tensor):
        self.logits = logits
        self.probs = probs
        # max(dim).indices is argmax (the first maximum on ties) without its slow strided CPU kernel.
        self.label_tensor = probs.max(dim=1).indices[0].to(torch.uint8)
        # From a GPU into pinned memory, without waiting; on the CPU the label tensor itself.
        self._host_label = self.label_tensor.to("cpu", non_blocking=True)
        self._copied: torch.cuda.Event | None = None
        if self.label_tensor.is_cuda:
            self._copied = torch.cuda.Event()
            self._copied.record()

    @property
    def label(self) -> np.ndarray:
        if self._copied is not None:
            self._copied.synchronize()
        return self._host_label.numpy()


_AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@contextmanager
def fp32_precision(tf32: bool) -> Iterator[None]:
    """CUDA matmuls and cuDNN convolutions in TF32 (``tf32``) or full float32 for the duration.

    PyTorch's own default runs cuDNN convolutions in TF32 on Ampere and newer GPUs (the official code
    ran so); full float32 is what the fidelity checks compare. The previous settings are restored after.
    """
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    saved = matmul.fp32_precision, conv.fp32_precision
    matmul.fp32_precision = conv.fp32_precision = "tf32" if tf32 else "ieee"
    try:
        yield
    finally:
        matmul.fp32_precision, conv.fp32_precision = saved


def _inference(method):
    """Runs a session method without autograd, under the session's autocast precision and TF32 setting."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        dtype = _AUTOCAST_DTYPES[self.precision]
        # A CUDA graph must not capture autocast's cached weight casts: it would replay stale ones.
        cast = {"dtype": dtype, "cache_enabled": not self.cuda_graph}
        autocast = torch.autocast(self.device.type, **cast) if dtype is not None else nullcontext()
        with torch.inference_mode(), autocast, fp32_precision(self.tf32):
            return method(self, *args, **kwargs)

    return wrapper


@dataclass
class _GroupState:
    """One group of objects: its memories and the frame predicted but not yet written."""

    memory: GroupMemory
    pending: Propagation | None = None  # propagation of the frame awaiting ``update``
    pending_logits: torch.Tensor | None = None


@dataclass
class _View:
    """One augmentation's view of the video: the current frame as the network sees it, and the memories."""

    augmentation: Augmentation
    groups: list[_GroupState] = field(default_factory=list)
    input_size: tuple[int, int] = (0, 0)
    token_size: tuple[int, int] = (0, 0)
    features: list[torch.Tensor] = field(default_factory=list)  # dropped once the frame is written
    pos_emb: torch.Tensor | None = None
    encoder_graph: Graph | None = None


@dataclass
class _FrameOutputs:
    """The device work of predicting one frame, per view: its features and, per group, the propagation and
    the (masked) logits; and the probabilities averaged over the views."""

    features: list[list[torch.Tensor]]
    propagations: list[list[Propagation]]
    logits: list[list[torch.Tensor]]
    probs: torch.Tensor


class InferenceSession:
    """Semi-supervised VOS on one video with a given memory policy. Device follows the model."""

    _record: Recorder = staticmethod(record_cuda_graph)
    """How the session records its graphs (a stand-in replaces it in the CPU tests of the graphs)."""

    def __init__(
        self,
        model: AOT,
        memory: str | MemoryConfig | PolicyFactory = "restricted",
        long_term_gap: int = 5,
        max_size: float = TEST_MAX_SIZE,
        precision: str = "fp32",
        tf32: bool = False,
        mask_unused_objects: bool = False,
        cuda_graph: bool = True,
        scales: Sequence[float] = (1.0,),
        flip: bool = False,
    ):
        """``memory``: a policy name ("restricted", "unrestricted", "fifo"; with the constants the model's
        official code uses, ``memory_defaults`` in its YAML), a memory config such as
        ``RestrictedMemoryConfig(recent_frames=4)``, or a factory of ``MemoryPolicy`` objects (one per
        object group).

        ``precision``: "fp32" (the official numerics), or "bf16"/"fp16" autocast for speed on a GPU.

        ``tf32``: let a GPU run fp32 convolutions and matmuls in TF32; off, they run in full float32
        (see ``fp32_precision``).

        ``cuda_graph``: on a GPU, replay the work of a frame as CUDA graphs: the image encoder while the
        memory banks fill, then, once every bank is full (a bank of bounded capacity; its tensors then stay
        where they are), the whole prediction of a frame. Eager launches of the step's hundreds of small
        kernels otherwise cost more time than the GPU spends on them. Memory writes and eviction decisions
        stay eager. Should a recording fail, the session warns once and goes on eagerly (same results).

        ``mask_unused_objects``: give the logits of object slots no object uses -1e10, as the official
        engine does in training. The official evaluation leaves them unmasked (the default), so a pixel
        can go to a slot that holds no object and is then written as background.

        ``scales``, ``flip``: test-time augmentation as the official ``--ms`` and ``--flip``: one view
        per scale (and its mirror with ``flip``), each with its own memories; the default is none.
        """
        if long_term_gap < 1:
            raise ValueError(f"long_term_gap must be >= 1, got {long_term_gap}")
        if precision not in _AUTOCAST_DTYPES:
            raise ValueError(f"precision must be one of {sorted(_AUTOCAST_DTYPES)}, got {precision!r}")
        self.precision = precision
        self.tf32 = tf32
        self.mask_unused_objects = mask_unused_objects
        self.cuda_graph = cuda_graph
        self.augmentations = augmentations(scales, flip)
        self.model = model.eval()
        if isinstance(memory, str):
            memory = model_memory_config(model.cfg, memory)
        self.memory_config: MemoryConfig | None = None if callable(memory) else memory
        """The memory policy's config; None when the session was given a policy factory."""
        self._new_policy = policy_factory(memory)
        self.long_term_gap = long_term_gap
        self.max_size = max_size
        self.objects = ObjectIds()
        self._views = [_View(augmentation) for augmentation in self.augmentations]
        self._frame_graph: Graph | None = None
        self._frame_replayed = False
        self._recording_failed = False
        self._index: int | None = None  # of the last frame seen
        self._original_size: tuple[int, int] = (0, 0)

    # ----------------------------------------------------------------------------------- public API
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def frame_replayed(self) -> bool:
        """Whether the last prediction was replayed from the CUDA graph of the whole frame (``cuda_graph``)."""
        return self._frame_replayed

    @property
    def object_ids(self) -> list[int]:
        """Original id of each object index (index 0 is background)."""
        return list(self.objects.ids)

    @property
    def frame_index(self) -> int:
        """Index of the last frame seen (0 = the first reference frame)."""
        if self._index is None:
            raise RuntimeError("no frame yet: call add_reference first")
        return self._index

    @property
    def memory_frames(self) -> list[int]:
        """Frame indices in the long-term memory of the first object group (of the first augmentation),
        oldest first."""
        return self.memory_frames_per_group[0] if self._groups else []

    @property
    def memory_frames_per_group(self) -> list[list[int]]:
        """The long-term memory frames of each object group of the first augmentation."""
        return [g.memory.frames for g in self._groups]

    @property
    def memory_frames_per_augmentation(self) -> list[list[int]]:
        """The long-term memory frames of the first object group of each augmentation (its own policy's)."""
        return [view.groups[0].memory.frames if view.groups else [] for view in self._views]

    @property
    def memory_events(self) -> list[MemoryEvent]:
        """Every long-term write of the first object group of the first augmentation (frame 0 first): the
        frames kept, the entries' scores where the policy scored them, the frame evicted."""
        return list(self._groups[0].memory.events) if self._groups else []

    @property
    def memory_events_per_group(self) -> list[list[MemoryEvent]]:
        return [list(g.memory.events) for g in self._groups]

    @property
    def _groups(self) -> list[_GroupState]:
        return self._views[0].groups

    def to_ids(self, label: np.ndarray | torch.Tensor) -> np.ndarray:
        """Object indices -> original mask ids (the official write-back)."""
        return self.objects.to_ids(label)

    def id_table(self) -> np.ndarray:
        """(256,) uint8 lookup of ``to_ids`` as of now: index a label with it where the conversion should
        happen elsewhere (the results writer's threads)."""
        return self.objects.id_table()

    @_inference
    def add_reference(self, image: Image, mask: np.ndarray) -> np.ndarray:
        """Registers the objects of ``mask`` (H, W uint8 ids; 255 in a reference is tracked as an object)
        and returns the label written into memory (H, W object indices).

        The first call starts the video at frame 0. A later call adds new objects on a new frame: the
        frame is predicted, the given objects are pasted over the prediction, and the result is written
        into every memory (existing memories are kept).
        """
        check_image(image)
        mask = self._check_mask(mask, tuple(image.shape[:2]))
        if self._index is None:
            self.objects.register(mask)
            label = self.objects.to_indices(mask)
            self._start(image, label)
            return label
        self._check_no_pending()
        self.objects.register(mask)
        prediction = self._predict(image)
        label = np.where(mask != 0, self.objects.to_indices(mask), prediction.label)
        label_tensor = self._original_label(label)
        self._write_memories(label_tensor, force_long_term=True)
        for view in self._views:
            self._add_groups_for_new_objects(view, label_tensor)
        self._drop_features()
        return label

    @_inference
    def predict(self, image: Image) -> Prediction:
        """Segments the next frame with the current memories (does not change them)."""
        if self._index is None:
            raise RuntimeError("call add_reference with the first frame and its mask before predict")
        self._check_no_pending()
        return self._predict(image)

    def _predict(self, image: Image) -> Prediction:
        inputs = self._network_inputs(image, self._index + 1)
        frame, replayed = self._frame_work(inputs)
        self._frame_replayed = replayed
        for view, features, propagations, logits in zip(self._views, frame.features, frame.propagations, frame.logits):
            view.features = features
            for group, propagation, group_logits in zip(view.groups, propagations, logits):
                group.pending, group.pending_logits = propagation, group_logits
        # A replay's outputs are overwritten by the next one: the prediction gets tensors of its own.
        probs = frame.probs.clone() if replayed else frame.probs
        return Prediction(torch.cat([x.float() for x in frame.logits[0]]), probs)

    def _frame_work(self, inputs: list[torch.Tensor]) -> tuple[_FrameOutputs, bool]:
        """The device work of a frame, and whether it was replayed from the frame graph: it is once every
        memory reads the same tensors at every frame (``_frame_graph_key``); eager before, with each
        view's encoder graph."""
        key = self._frame_graph_key(inputs) if self._graphs_on(inputs[0]) else None
        if key is None:
            self._frame_graph = None  # what it read is no longer what a frame reads
            encoders = [self._encoder(view, x) for view, x in zip(self._views, inputs)]
            return self._forward_frame(inputs, encoders), False
        if self._frame_graph is None or self._frame_graph.key != key:
            self._frame_graph = None  # release the old recording before making the new one
            for view in self._views:
                view.encoder_graph = None
            encoders = [self.model.encode_image] * len(self._views)
            self._frame_graph = self._new_graph(lambda xs: self._forward_frame(xs, encoders), inputs, key)
            if self._frame_graph is None:
                return self._frame_work(inputs)
        return self._frame_graph(inputs), True

    def _forward_frame(self, inputs: list[torch.Tensor], encoders: list[Callable]) -> _FrameOutputs:
        """Encodes each view's input, propagates every group's memories to it and decodes: device work only,
        reading nothing but the inputs, the memories and the weights (so that it can be a graph)."""
        per_view = []
        for view, x, encode in zip(self._views, inputs, encoders):
            features = encode(x)
            propagations = [group.memory.read(features[-1], view.pos_emb) for group in view.groups]
            logits = [self._mask_unused(self.model.decode(p, features), g) for g, p in enumerate(propagations)]
            probs = self._merge_probabilities([group_logits.float() for group_logits in logits], self._original_size)
            per_view.append((features, propagations, logits, mirror(probs, view.augmentation)))
        features, propagations, logits, probs = (list(column) for column in zip(*per_view))
        return _FrameOutputs(features, propagations, logits, average_probabilities(probs))

    def _frame_graph_key(self, inputs: list[torch.Tensor]) -> tuple | None:
        """What a recording of ``_forward_frame`` depends on besides its inputs' values: the object count,
        the sizes and the addresses of every memory tensor read. None while some memory is not static."""
        memories = [group.memory for view in self._views for group in view.groups]
        if not all(memory.static for memory in memories):
            return None
        positions = [view.pos_emb for view in self._views if view.pos_emb is not None]
        tensors = positions + [t for memory in memories for t in memory.tensors_read()]
        return (
            self.objects.num_objects,
            self._original_size,
            tuple(x.shape for x in inputs),
            tuple((t.data_ptr(), t.shape, t.stride()) for t in tensors),
        )

    @_inference
    def update(self, label: np.ndarray | torch.Tensor) -> None:
        """Writes the last predicted frame into memory, with ``label`` (H, W object indices, 255 = ignore)."""
        if self._index is None or self._groups[0].pending is None:
            raise RuntimeError("update needs a predicted frame: call predict (or step) first")
        self._write_memories(self._original_label(label))
        self._drop_features()

    def _write_memories(self, label: torch.Tensor, force_long_term: bool = False) -> None:
        """Writes the pending frame into every view's memories with ``label`` (original size)."""
        num_groups = self._groups_needed()
        for view in self._views:
            view_label = self._view_label(label, view)
            for g, group in enumerate(view.groups):
                id_emb = self._id_embedding(group_label(view_label, g, num_groups, self.model.cfg.max_objects))
                group.memory.write(self._index, group.pending, id_emb, group.pending_logits, force_long_term)
                group.pending, group.pending_logits = None, None

    def step(self, image: Image) -> Prediction:
        """Predicts the next frame and writes it into memory with its own prediction."""
        out = self.predict(image)
        self.update(out.label_tensor)
        return out

    # ------------------------------------------------------------------------------------ internals
    def _start(self, image: Image, label: np.ndarray) -> None:
        self._encode(image, 0)
        label_tensor = self._original_label(label)
        for view in self._views:
            view.pos_emb = self.model.position_embedding(view.token_size, 1, self.device)
            self._add_groups_for_new_objects(view, label_tensor)
        self._drop_features()

    def _add_groups_for_new_objects(self, view: _View, label: torch.Tensor) -> None:
        """Creates the groups of ``view`` that new objects need and starts them on the current frame with
        ``label`` (original size)."""
        needed = self._groups_needed()
        view_label = self._view_label(label, view)
        while len(view.groups) < needed:
            g = len(view.groups)
            policy = self._new_policy()
            if not isinstance(policy, MemoryPolicy):
                raise TypeError(f"the memory policy factory returned {type(policy).__name__}, not a MemoryPolicy")
            memory = GroupMemory(self.model, policy, self.long_term_gap, in_place=True)
            id_emb = self._id_embedding(group_label(view_label, g, needed, self.model.cfg.max_objects))
            memory.start(self._index, view.features[-1], id_emb, view.pos_emb)
            view.groups.append(_GroupState(memory))

    def _mask_unused(self, logits: torch.Tensor, group: int) -> torch.Tensor:
        if not self.mask_unused_objects:
            return logits
        used = min(self.objects.num_objects - group * self.model.cfg.max_objects, self.model.cfg.max_objects)
        return mask_unused_slots(logits, used)

    def _groups_needed(self) -> int:
        return max(math.ceil(self.objects.num_objects / self.model.cfg.max_objects), 1)

    def _network_inputs(self, image: Image, index: int) -> list[torch.Tensor]:
        """Makes ``image`` the current frame and returns each view's network input: resized at its scale,
        then mirrored for a flipped view, as the official transform does."""
        check_image(image)
        if self._index is not None and tuple(image.shape[:2]) != self._original_size:
            raise ValueError(
                f"frame {index} is {image.shape[1]}x{image.shape[0]}, but the video started at "
                f"{self._original_size[1]}x{self._original_size[0]}"
            )
        inputs = []
        for view in self._views:
            x = mirror(preprocess_image(image, self.max_size, self.device, view.augmentation.scale), view.augmentation)
            view.input_size = tuple(x.shape[-2:])
            inputs.append(x)
        self._index, self._original_size = index, tuple(image.shape[:2])
        return inputs

    def _encode(self, image: Image, index: int) -> None:
        """Makes ``image`` the current frame and encodes it in every view."""
        for view, x in zip(self._views, self._network_inputs(image, index)):
            view.features = self._encoder(view, x)(x)
            view.token_size = tuple(view.features[-1].shape[-2:])

    def _drop_features(self) -> None:
        for view in self._views:
            view.features = []

    def _graphs_on(self, x: torch.Tensor) -> bool:
        return self.cuda_graph and not self._recording_failed and self._can_record(x)

    @staticmethod
    def _can_record(x: torch.Tensor) -> bool:
        """Whether ``_record`` can record work on ``x``'s device (CUDA graphs: a GPU)."""
        return x.is_cuda

    def _new_graph(self, fn: Callable[[list[torch.Tensor]], Any], inputs: list[torch.Tensor], key) -> Graph | None:
        """``fn`` recorded on ``inputs``; None, with one warning, if recording fails: the session then runs
        eagerly, which gives the same results, rather than ending the video."""
        try:
            return Graph(self._record, fn, inputs, key)
        except RuntimeError as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            logger.warning("frame %d: recording a CUDA graph failed (%s); eager from now on", self._index, reason)
            self._recording_failed = True
            return None

    def _encoder(self, view: _View, x: torch.Tensor) -> Callable[[torch.Tensor], list[torch.Tensor]]:
        """The model's encoder, or its replay (one graph per view, for the video's input size)."""
        if not self._graphs_on(x):
            return self.model.encode_image
        if view.encoder_graph is None or view.encoder_graph.key != x.shape:
            view.encoder_graph = None
            view.encoder_graph = self._new_graph(lambda xs: self.model.encode_image(xs[0]), [x], x.shape)
            if view.encoder_graph is None:
                return self.model.encode_image
        return lambda x: list(view.encoder_graph([x]))

    def _merge_probabilities(self, logits: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        """Upsamples each group's logits and merges the groups as the official engine does."""
        upsampled = [F.interpolate(x, size=size, mode="bilinear", align_corners=True) for x in logits]
        if len(upsampled) == 1:
            return torch.softmax(upsampled[0], dim=1)
        probs = [torch.softmax(x, dim=1) for x in upsampled]
        background = torch.prod(torch.cat([p[:, :1] for p in probs], dim=1), dim=1, keepdim=True)
        merged = torch.cat([background] + [p[:, 1:] for p in probs], dim=1).clamp(1e-5, 1 - 1e-5)
        return torch.softmax(torch.logit(merged), dim=1)

    def _original_label(self, label: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(H, W) label at the original size -> (1, 1, H, W) float32 on the device."""
        label = torch.as_tensor(np.asarray(label) if not isinstance(label, torch.Tensor) else label)
        if label.shape != self._original_size:
            raise ValueError(f"label is {tuple(label.shape)}, the frame is {self._original_size}")
        return label.to(self.device, torch.float32)[None, None]

    def _view_label(self, label: torch.Tensor, view: _View) -> torch.Tensor:
        """An original-size label as ``view`` sees it: mirrored at the original size for a flipped view,
        then (1, 1, h, w) int64 at its input size (nearest), in the official order."""
        return F.interpolate(mirror(label, view.augmentation), size=view.input_size, mode="nearest").long()

    def _id_embedding(self, label: torch.Tensor) -> torch.Tensor:
        """ID embedding of a (1, 1, h, w) label in object indices, 255 = ignore.

        On the CPU, where reading the label's highest index costs no device sync, only the ids up to it
        are embedded (the same sums; see ``AOT.id_embedding``). A predicted label may hold an id slot no
        object uses, so the highest index is read from the label, not from the object count.
        """
        num_ids = None
        if label.device.type == "cpu":
            highest = int(label.masked_fill(label == IGNORE_ID, 0).max())
            num_ids = min(highest, self.model.cfg.max_objects) + 1
        return self.model.id_embedding(self.model.one_hot_ids(label, num_ids=num_ids))

    def _check_mask(self, mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        mask = np.asarray(mask)
        if mask.shape != size:
            raise ValueError(f"mask is {mask.shape}, the image is {size}")
        if not np.issubdtype(mask.dtype, np.integer) or mask.min() < 0 or mask.max() > 255:
            raise ValueError(f"mask must hold integer ids 0..255, got {mask.dtype} in [{mask.min()}, {mask.max()}]")
        return mask.astype(np.uint8)

    def _check_no_pending(self) -> None:
        if self._groups and self._groups[0].pending is not None:
            raise RuntimeError("the last predicted frame was not written: call update(label) before the next frame")
