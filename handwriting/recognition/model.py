"""Recognition networks with one output contract: (logits_BxTxK, frame_mask_BxT) for the CTC head.

Dimension letters: B batch, H image rows, W image columns, D features per position, F features
out of an MDLSTM level (4C with "concat", C with "sum"), C cells per direction, S subsample
units, T output frames (time steps for the online reader), K classes (alphabet size including
the CTC blank at 0), P pen points of an online line.

`MDLSTMRecognizer`: the hierarchy of Graves & Schmidhuber (2009), section 3 and fig. 2 (and
RNNLIB's offline config). Bottom to top:
  input block   the image is cut into non-overlapping blocks whose pixels form one vector;
  level l       a 2-D MDLSTM layer scanning from all four corners (handwriting.nn.mdlstm);
  hidden block  blocks of the level's outputs gathered into vectors ("subsampling");
  subsample     a feed-forward tanh layer without bias, S units;
  ...           repeated, the last level has no hidden block;
  collapse      the last level's outputs summed over the vertical axis -> [B, W', F], then one
                linear output layer to K (softmax taken by the CTC loss).

Block sizes are (height, width) everywhere in this package. RNNLIB lists block sizes in the
order of the data's dimensions; its offline images keep x (width) first, so `inputBlock 3,4`
means 3 wide and 4 high. The frame count confirms the reading: the Arabic net reduces the width
3*3*2 = 18 times (a 300-px IFN/ENIT word -> ~17 frames for ~8 letters) and the height 4*4*4 = 64
times; the other reading (width / 64) would leave fewer frames than letters.

Collapse: summing over H before the output layer equals applying the output weights per pixel
and summing (the layer is linear), except that the bias is added once per frame rather than H'
times; we sum first (cheaper, and the bias means the same thing for every image height).

Masks: `mask_BxHxW` marks real pixels of right/bottom-padded images. Pixels outside it are zeroed,
every image is padded with zeros to a multiple of each block, a block is valid if any of its
pixels is, and the MDLSTM layers give zero outputs at invalid positions, so an image in a padded
batch gets on its valid frames the logits it gets alone. A frame is valid if any of its pixels is.

`OnlineReader`: a bidirectional LSTM reader of pen offsets (dx, dy, end-of-stroke) for online
handwriting (Graves et al. 2009, TPAMI, section 4, without their hand-made features), with
optional temporal subsampling (concatenating `subsample` consecutive points into one frame) and
an optional tanh feature layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from handwriting.nn.cells import BiLSTM
from handwriting.nn.clip import clip_gradient
from handwriting.nn.mdlstm import MDLSTM2D
from handwriting.nn.params import count_params_of

Array = jax.Array
Block = tuple[int, int]  # (height, width)

MDLSTM_DIRECTIONS = 4  # every level scans from all four corners (RNNLIB's offline nets)


def _clip_or_none(bound: float | None) -> float | None:
  """Config convention: 0 (or None) turns a derivative clip off."""
  return float(bound) if bound else None


def _block(block: Sequence[int]) -> Block:
  height, width = (int(b) for b in block)  # configs round-trip through JSON as lists
  if height < 1 or width < 1:
    raise ValueError(f"block sizes must be positive, got {tuple(block)}")
  return height, width


def frames_for_width(width: int, w_factor: int) -> int:
  """Output frames of an input `width` wide under a total horizontal reduction `w_factor`.

  Each level pads to a multiple of its block width, so the count is a nested ceil division,
  which equals ceil(width / product of the block widths).
  """
  return -(-int(width) // int(w_factor))


def width_reduction(config: ml_collections.ConfigDict) -> int:
  """The total horizontal reduction of the network a full config describes, without building
  it: input frames (pixels or pen points) per output frame."""
  if config.model_type == "online":
    return int(config.model.subsample)
  _, input_block, hidden_blocks, _ = _levels(config.model)
  return math.prod(b[1] for b in (input_block, *hidden_blocks))


def check_feasible(widths: Sequence[int], label_lengths: Sequence[int],
                   reduction: int | Sequence[int], frames_per_label: float = 1.0) -> list[int]:
  """Indices of the lines whose frame count is below `frames_per_label` per label.

  Args:
    widths: input widths (image columns, or pen points for the online reader).
    label_lengths: per line, the fewest frames CTC needs per label unit; pass
      `ctc.min_frames` (labels + repeated pairs) for exact CTC feasibility, or the plain label
      lengths with `frames_per_label=2` for the design margin of the configs.
    reduction: the horizontal reduction, or a model's `reduction()` (height, width) pair.
  """
  w_factor = int(reduction[-1]) if isinstance(reduction, (tuple, list)) else int(reduction)
  if len(widths) != len(label_lengths):
    raise ValueError(f"{len(widths)} widths but {len(label_lengths)} label lengths")
  return [i for i, (w, n) in enumerate(zip(widths, label_lengths))
          if frames_for_width(w, w_factor) < math.ceil(frames_per_label * int(n))]


def gather_blocks(x_BxHxWxD: Array, valid_BxHxW: Array, block: Block) -> tuple[Array, Array]:
  """Non-overlapping (bh, bw) blocks -> vectors (Graves & Schmidhuber 2009, section 3).

  Pixels outside `valid_BxHxW` are zeroed and the image is zero-padded at the bottom and right
  to multiples of the block. Returns x [B, ceil(H/bh), ceil(W/bw), bh*bw*D] (each vector row
  by row through the block, then D) and its mask (a block is valid if any pixel is).
  """
  bh, bw = block
  B, H, W, D = x_BxHxWxD.shape
  Hb, Wb = -(-H // bh), -(-W // bw)
  pad = ((0, 0), (0, Hb * bh - H), (0, Wb * bw - W))
  x_BxHxWxD = jnp.where(valid_BxHxW[..., None], x_BxHxWxD, 0.0)
  x_BxHxWxD = jnp.pad(x_BxHxWxD, (*pad, (0, 0)))
  valid_BxHxW = jnp.pad(valid_BxHxW, pad)
  blocks = x_BxHxWxD.reshape(B, Hb, bh, Wb, bw, D).transpose(0, 1, 3, 2, 4, 5)
  valid = valid_BxHxW.reshape(B, Hb, bh, Wb, bw).any(axis=(2, 4))
  return blocks.reshape(B, Hb, Wb, bh * bw * D), valid


def _levels(cfg: ml_collections.ConfigDict
            ) -> tuple[list[int], Block, tuple[Block, ...], list[int]]:
  """(hidden sizes, input block, hidden blocks, subsample sizes), checked for consistency."""
  sizes = [int(c) for c in cfg.hidden_sizes]
  # A tuple: module attributes are static graph data and must hash (jit caches on them).
  hidden_blocks = tuple(_block(b) for b in cfg.hidden_blocks)
  subsample = [int(s) for s in cfg.subsample_sizes]
  if not sizes or len(hidden_blocks) != len(sizes) - 1 or len(subsample) != len(sizes) - 1:
    raise ValueError(f"{len(sizes)} MDLSTM levels need {len(sizes) - 1} hidden blocks and "
                     f"subsample sizes, got {len(hidden_blocks)} and {len(subsample)}")
  return sizes, _block(cfg.input_block), hidden_blocks, subsample


class MDLSTMRecognizer(nnx.Module):
  """The MDLSTM hierarchy with CTC outputs (Graves & Schmidhuber 2009, fig. 2).

  Args:
    cfg: the model fields of `configs.get_config(...).model` with model_type "mdlstm":
      hidden_sizes (C per level), input_block, hidden_blocks, subsample_sizes, combine,
      peephole, forget_bias, lstm_clip (gate pre-activation derivative clip, 0 = off),
      output_clip (derivative clip on the logits, 0 = off), dropout (rate on the inputs of
      levels 2..L and of the output layer, in training only; 0 or absent = none).
    num_classes: K, the alphabet size including the blank.
  """

  def __init__(self, cfg: ml_collections.ConfigDict, num_classes: int, *, rngs: nnx.Rngs):
    sizes, self.input_block, self.hidden_blocks, subsample = _levels(cfg)
    self.combine = str(cfg.combine)
    self.output_clip = _clip_or_none(cfg.output_clip)
    lstm_clip = _clip_or_none(cfg.lstm_clip)
    levels, projections = [], []
    d_in = self.input_block[0] * self.input_block[1]  # one grey channel
    for n, hidden in enumerate(sizes):
      level = MDLSTM2D(d_in, hidden, directions=MDLSTM_DIRECTIONS, combine=self.combine,
                       peephole=bool(cfg.peephole), clip=lstm_clip,
                       forget_bias=float(cfg.forget_bias), rngs=rngs)
      levels.append(level)
      if n < len(sizes) - 1:
        bh, bw = self.hidden_blocks[n]
        # The "subsample" layer: tanh units without bias (RNNLIB's offline configs).
        projections.append(nnx.Linear(level.out_features * bh * bw, subsample[n],
                                      use_bias=False, rngs=rngs))
        d_in = subsample[n]
    self.levels = nnx.List(levels)
    self.subsample = nnx.List(projections)
    self.output = nnx.Linear(levels[-1].out_features, num_classes, rngs=rngs)
    # Between the levels, as PyLaia's readers place it. Absent at rate 0, so the checkpoints of
    # models trained without it keep their structure.
    rate = float(cfg.get("dropout", 0.0))
    self.dropout = nnx.Dropout(rate, rngs=rngs) if rate > 0 else None

  def reduction(self) -> tuple[int, int]:
    """(h_factor, w_factor): the products of the input and hidden block sizes."""
    blocks = [self.input_block, *self.hidden_blocks]
    return math.prod(b[0] for b in blocks), math.prod(b[1] for b in blocks)

  def frames_for_width(self, width: int) -> int:
    """T for an image `width` pixels wide."""
    return frames_for_width(width, self.reduction()[1])

  def __call__(self, img_BxHxWx1: Array, mask_BxHxW: Array | None = None
               ) -> tuple[Array, Array]:
    """Returns (logits_BxTxK, frame_mask_BxT), T = ceil(W / w_factor)."""
    if mask_BxHxW is None:
      valid_BxHxW = jnp.ones(img_BxHxWx1.shape[:3], bool)
    else:
      valid_BxHxW = jnp.asarray(mask_BxHxW).astype(bool)
    x_BxHxWxD, valid_BxHxW = gather_blocks(img_BxHxWx1, valid_BxHxW, self.input_block)
    for n, level in enumerate(self.levels):
      y_BxHxWxF = level(x_BxHxWxD, valid_BxHxW)  # zero at invalid positions
      if n == len(self.levels) - 1:
        break
      x_BxHxWxD, valid_BxHxW = gather_blocks(y_BxHxWxF, valid_BxHxW, self.hidden_blocks[n])
      x_BxHxWxD = jnp.tanh(self.subsample[n](x_BxHxWxD))
      if self.dropout is not None:
        x_BxHxWxD = self.dropout(x_BxHxWxD)
    # Collapse (RNNLIB: the output layer sums over the vertical dimension); see the module doc.
    frame_mask_BxT = valid_BxHxW.any(axis=1)
    collapsed_BxTxF = y_BxHxWxF.sum(axis=1)
    if self.dropout is not None:
      collapsed_BxTxF = self.dropout(collapsed_BxTxF)
    logits_BxTxK = self.output(collapsed_BxTxF)
    return clip_gradient(logits_BxTxK, self.output_clip), frame_mask_BxT


def mdlstm_param_count(cfg: ml_collections.ConfigDict, num_classes: int) -> int:
  """Weights of `MDLSTMRecognizer(cfg, num_classes)`, counted on its parameters."""
  return count_params_of(lambda: MDLSTMRecognizer(cfg, num_classes, rngs=nnx.Rngs(0)))


def subsample_frames(x_BxPxD: Array, valid_BxP: Array, factor: int) -> tuple[Array, Array]:
  """Concatenates `factor` consecutive steps into one frame: [B, ceil(P/f), f*D] and its mask.

  Masked steps are zeroed and the tail zero-padded, as `gather_blocks` does along one axis.
  """
  if factor == 1:
    return jnp.where(valid_BxP[..., None], x_BxPxD, 0.0), valid_BxP
  x_Bx1xPxD, valid_Bx1xP = gather_blocks(x_BxPxD[:, None], valid_BxP[:, None], (1, factor))
  return x_Bx1xPxD[:, 0], valid_Bx1xP[:, 0]


class OnlineReader(nnx.Module):
  """Stacked bidirectional LSTM with CTC outputs for pen offsets (Graves et al. 2009, TPAMI).

  Args:
    cfg: model fields of `configs.get_config(..., model_type="online").model`: num_layers,
      hidden_size (H per direction), subsample (points per frame, 1 = off), feature_size (a
      tanh layer on the frames before the LSTMs, 0 = none), peephole, forget_bias, lstm_clip,
      output_clip.
    num_classes: K.
  """

  def __init__(self, cfg: ml_collections.ConfigDict, num_classes: int, *, rngs: nnx.Rngs):
    self.factor = int(cfg.subsample)
    if self.factor < 1 or int(cfg.num_layers) < 1:
      raise ValueError(f"subsample and num_layers must be >= 1, got {self.factor}, "
                       f"{cfg.num_layers}")
    self.output_clip = _clip_or_none(cfg.output_clip)
    H = int(cfg.hidden_size)
    d_in = 3 * self.factor
    F = int(cfg.feature_size)
    self.features = nnx.Linear(d_in, F, rngs=rngs) if F else None
    d_in = F or d_in
    layers = []
    for _ in range(int(cfg.num_layers)):
      layers.append(BiLSTM(d_in, H, peephole=bool(cfg.peephole),
                           forget_bias=float(cfg.forget_bias),
                           clip=_clip_or_none(cfg.lstm_clip), rngs=rngs))
      d_in = 2 * H
    self.layers = nnx.List(layers)
    self.output = nnx.Linear(2 * H, num_classes, rngs=rngs)

  def reduction(self) -> tuple[int, int]:
    """(1, subsample): the same contract as `MDLSTMRecognizer.reduction` (time is "width")."""
    return 1, self.factor

  def frames_for_length(self, num_points: int) -> int:
    return frames_for_width(num_points, self.factor)

  def __call__(self, ink_BxPx3: Array, mask_BxP: Array | None = None) -> tuple[Array, Array]:
    """Returns (logits_BxTxK, mask_BxT), T = ceil(P / subsample)."""
    if mask_BxP is None:
      valid_BxP = jnp.ones(ink_BxPx3.shape[:2], bool)
    else:
      valid_BxP = jnp.asarray(mask_BxP).astype(bool)
    x_BxTxD, valid_BxT = subsample_frames(ink_BxPx3, valid_BxP, self.factor)
    if self.features is not None:
      x_BxTxD = jnp.tanh(self.features(x_BxTxD))
    for layer in self.layers:
      x_BxTxD = layer(x_BxTxD, valid_BxT)  # zeros at padded frames
    logits_BxTxK = self.output(x_BxTxD)
    return clip_gradient(logits_BxTxK, self.output_clip), valid_BxT


def online_param_count(cfg: ml_collections.ConfigDict, num_classes: int) -> int:
  """Weights of `OnlineReader(cfg, num_classes)`, counted on its parameters."""
  return count_params_of(lambda: OnlineReader(cfg, num_classes, rngs=nnx.Rngs(0)))


def build_model(cfg: ml_collections.ConfigDict, num_classes: int, *, rngs: nnx.Rngs
                ) -> MDLSTMRecognizer | OnlineReader:
  """The network named by `cfg.model_type` ("mdlstm" or "online") with `cfg.model`'s sizes."""
  if cfg.model_type == "mdlstm":
    return MDLSTMRecognizer(cfg.model, num_classes, rngs=rngs)
  if cfg.model_type == "online":
    return OnlineReader(cfg.model, num_classes, rngs=rngs)
  raise ValueError(f"model_type must be 'mdlstm' or 'online', not {cfg.model_type!r}")


def param_count(cfg: ml_collections.ConfigDict, num_classes: int) -> int:
  """The weight count of `build_model(cfg, num_classes)`, counted on its parameters (built
  abstractly: nothing is allocated)."""
  return count_params_of(lambda: build_model(cfg, num_classes, rngs=nnx.Rngs(0)))
