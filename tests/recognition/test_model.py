"""Recognition networks: block gathering against a loop, frame counts, padded batch == each image
alone, parameter counts against the built modules and hand formulas, CTC gradients, memorisation of one batch.

Dimension letters: B batch, H rows, W columns, D features, P pen points, T frames, K classes,
L labels.

Compiles are the cost here, so every MDLSTM level of the test net has the same shapes (blocks of
4 inputs, 3 cells) and the jitted functions are shared between tests.
"""

import functools
import json
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from flax import nnx

from handwriting.recognition import configs
from handwriting.recognition.ctc import ctc_loss
from handwriting.recognition.model import (
  MDLSTMRecognizer,
  OnlineReader,
  build_model,
  check_feasible,
  frames_for_width,
  gather_blocks,
  mdlstm_param_count,
  online_param_count,
  param_count,
)

K = 5


def mdlstm_cfg():
  cfg = configs.get_config("tiny", "mdlstm")
  m = cfg.model
  m.hidden_sizes = (3, 3, 3)
  m.input_block = (2, 2)  # 4 inputs to level 1
  m.hidden_blocks = ((2, 2), (2, 1))  # reduction (8, 4)
  m.subsample_sizes = (4, 4)  # 4 inputs to levels 2 and 3
  return cfg


def online_cfg():
  cfg = configs.get_config("tiny", "online")
  m = cfg.model
  m.num_layers, m.hidden_size, m.subsample, m.feature_size = 2, 3, 2, 4
  return cfg


@functools.cache
def mdlstm_model() -> MDLSTMRecognizer:
  return build_model(mdlstm_cfg(), K, rngs=nnx.Rngs(0))


@functools.cache
def online_model() -> OnlineReader:
  return build_model(online_cfg(), K, rngs=nnx.Rngs(1))


@functools.partial(jax.jit, static_argnums=0)
def apply(graphdef, state, x, mask):
  return nnx.merge(graphdef, state)(x, mask)


def run(model, x, mask):
  return apply(*nnx.split(model), x, mask)


def mean_ctc(graphdef, state, x, mask, labels_BxL, label_mask_BxL):
  logits_BxTxK, frame_mask_BxT = nnx.merge(graphdef, state)(x, mask)
  loss_B, _ = ctc_loss(logits_BxTxK, frame_mask_BxT, labels_BxL, label_mask_BxL)
  return loss_B.mean()


loss_and_grad = jax.jit(jax.value_and_grad(mean_ctc, argnums=1), static_argnums=0)
ADAM = optax.adam(0.05)


@jax.jit
def adam_update(grads, opt_state, params):
  updates, opt_state = ADAM.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state


# Two images: 8 x 13 (fills the batch) and 6 x 7 (padded at the bottom and the right).
SIZES = ((8, 13), (6, 7))


def image_batch():
  rng = np.random.default_rng(0)
  Hb, Wb = 8, 13
  img = np.zeros((2, Hb, Wb, 1), np.float32)
  mask = np.zeros((2, Hb, Wb), bool)
  for b, (h, w) in enumerate(SIZES):
    img[b, :h, :w, 0] = rng.uniform(size=(h, w))
    mask[b, :h, :w] = True
  img[1, 6:, :] = 7.0  # junk in the padding must not matter: the model masks it
  img[1, :, 7:] = -3.0
  return jnp.asarray(img), jnp.asarray(mask)


def ink_batch():
  rng = np.random.default_rng(1)
  lengths = (9, 5)
  ink = rng.normal(size=(2, 9, 3)).astype(np.float32)
  ink[..., 2] = rng.uniform(size=(2, 9)) < 0.2
  mask = np.arange(9)[None, :] < np.asarray(lengths)[:, None]
  ink[1, 5:] = 11.0  # junk in the padding
  return jnp.asarray(ink), jnp.asarray(mask), lengths


def labels():
  """Image/line 0 reads [1, 2] (4 frames available), image/line 1 reads [3] (2 frames)."""
  return jnp.asarray([[1, 2], [3, 0]]), jnp.asarray([[1, 1], [1, 0]])


def test_gather_blocks_matches_loop():
  rng = np.random.default_rng(2)
  x = rng.normal(size=(2, 5, 7, 2)).astype(np.float32)
  valid = np.ones((2, 5, 7), bool)
  valid[1, 3:] = False
  valid[1, :, 4:] = False
  bh, bw = 2, 3
  got_x, got_v = gather_blocks(jnp.asarray(x), jnp.asarray(valid), (bh, bw))
  Hb, Wb = 3, 3  # ceil(5 / 2), ceil(7 / 3)
  want_x = np.zeros((2, Hb, Wb, bh * bw * 2), np.float32)
  want_v = np.zeros((2, Hb, Wb), bool)
  for b in range(2):
    for i in range(Hb):
      for j in range(Wb):
        vec = []
        for di in range(bh):
          for dj in range(bw):
            r, c = i * bh + di, j * bw + dj
            inside = r < 5 and c < 7 and valid[b, r, c]
            vec.extend(x[b, r, c] if inside else [0.0, 0.0])
            want_v[b, i, j] |= inside
        want_x[b, i, j] = vec
  np.testing.assert_array_equal(np.asarray(got_v), want_v)
  np.testing.assert_allclose(np.asarray(got_x), want_x, rtol=0, atol=0)


@pytest.mark.parametrize("width,factor,frames", [(1, 4, 1), (4, 4, 1), (5, 4, 2), (8, 4, 2),
                                                 (1000, 8, 125), (1001, 8, 126)])
def test_frames_for_width(width, factor, frames):
  assert frames_for_width(width, factor) == frames


def test_frames_equal_nested_ceil_of_each_level():
  blocks = (3, 3, 2)  # the Arabic net's widths
  for width in range(1, 80):
    w = width
    for b in blocks:
      w = -(-w // b)
    assert frames_for_width(width, 18) == w


def test_mdlstm_shapes_for_several_widths():
  model = mdlstm_model()
  assert model.reduction() == (8, 4)
  for H, W in ((10, 16), (3, 5)):  # (8, 13) is run in the padded-batch test
    logits, mask = jax.eval_shape(model, jax.ShapeDtypeStruct((2, H, W, 1), jnp.float32),
                                  jax.ShapeDtypeStruct((2, H, W), jnp.bool_))
    T = model.frames_for_width(W)
    assert T == -(-W // 4)
    assert logits.shape == (2, T, K) and mask.shape == (2, T)


def test_mdlstm_padded_batch_equals_each_image_alone():
  model = mdlstm_model()
  img, mask = image_batch()
  logits, frame_mask = run(model, img, mask)
  assert logits.shape == (2, 4, K)
  np.testing.assert_array_equal(np.asarray(frame_mask.sum(1)),
                                [model.frames_for_width(w) for _, w in SIZES])
  # Only the padded image is run alone: image 0 fills the batch and rows never interact, so a
  # second compile for it would test nothing more.
  h, w = SIZES[1]
  alone, alone_mask = run(model, img[1:, :h, :w], None)
  T = model.frames_for_width(w)
  assert alone.shape == (1, T, K) and bool(alone_mask.all())
  np.testing.assert_allclose(np.asarray(logits[1, :T]), np.asarray(alone[0]), atol=1e-5)


def test_online_padded_batch_equals_each_line_alone():
  model = online_model()
  ink, mask, lengths = ink_batch()
  logits, frame_mask = run(model, ink, mask)
  assert logits.shape == (2, 5, K)  # ceil(9 / 2)
  np.testing.assert_array_equal(np.asarray(frame_mask.sum(1)), [5, 3])
  P = lengths[1]  # the padded line (line 0 fills the batch; see the MDLSTM test)
  alone, _ = run(model, ink[1:, :P], None)
  T = model.frames_for_length(P)
  assert alone.shape == (1, T, K)
  np.testing.assert_allclose(np.asarray(logits[1, :T]), np.asarray(alone[0]), atol=1e-5)


def mdlstm_formula(cfg: ml_collections.ConfigDict, num_classes: int) -> int:
  """The MDLSTM net's weights from its layer sizes alone: the independent reference.

  Per direction an MDLSTM cell with D inputs and C cells has 5 gate blocks (input gate, two
  forget gates, cell input, output gate): D*5C input weights, 2 dimensions x C*5C recurrent
  weights, 5C biases, and with peepholes 4C (input gate, one per forget gate, output gate).
  """
  G, directions = 5, 4
  sizes = [int(c) for c in cfg.hidden_sizes]
  peep = 4 if cfg.peephole else 0
  total, d_in = 0, math.prod(cfg.input_block)
  for n, C in enumerate(sizes):
    total += directions * (d_in * G * C + 2 * C * G * C + G * C + peep * C)
    F = C * (directions if cfg.combine == "concat" else 1)
    if n < len(sizes) - 1:
      total += F * math.prod(cfg.hidden_blocks[n]) * int(cfg.subsample_sizes[n])
      d_in = int(cfg.subsample_sizes[n])
  return total + F * num_classes + num_classes


def online_formula(cfg: ml_collections.ConfigDict, num_classes: int) -> int:
  """The online reader's weights from its sizes: per direction and layer an LSTM has D*4H input
  and H*4H recurrent weights, 4H biases and 3H peepholes (Graves 2013, eqs 7-11)."""
  H, d_in = int(cfg.hidden_size), 3 * int(cfg.subsample)
  total = 0
  if cfg.feature_size:
    total += d_in * int(cfg.feature_size) + int(cfg.feature_size)
    d_in = int(cfg.feature_size)
  for _ in range(int(cfg.num_layers)):
    total += 2 * (d_in * 4 * H + H * 4 * H + 4 * H + (3 * H if cfg.peephole else 0))
    d_in = 2 * H
  return total + 2 * H * num_classes + num_classes


def built_count(module: nnx.Module) -> int:
  """Parameter count of a really built module (the counts under test build abstractly)."""
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


@pytest.mark.parametrize("preset", configs.MDLSTM_PRESETS)
@pytest.mark.parametrize("combine,peephole", [("concat", True), ("sum", False)])
def test_mdlstm_param_count(preset, combine, peephole):
  cfg = configs.get_config(preset, "mdlstm")
  cfg.model.combine, cfg.model.peephole = combine, peephole
  want = mdlstm_formula(cfg.model, 120)
  assert mdlstm_param_count(cfg.model, 120) == param_count(cfg, 120) == want


def test_param_count_is_that_of_the_built_model():
  cfg = configs.get_config("tiny", "mdlstm")
  assert param_count(cfg, K) == built_count(build_model(cfg, K, rngs=nnx.Rngs(0)))


def test_arabic_param_count_is_rnnlibs():
  # Graves & Schmidhuber 2009 / RNNLIB: about 159k weights for the Arabic net. Ours, K = 120:
  # levels 4*178 + 4*1,390 + 4*30,450, subsample 576 + 6,400, output 200*120 + 120 = 159,168.
  count = param_count(configs.get_config("arabic"), 120)
  print(f"Arabic MDLSTM net, K=120: {count} weights")
  assert count == 159_168


@pytest.mark.parametrize("preset", configs.ONLINE_PRESETS)
@pytest.mark.parametrize("feature_size,peephole", [(0, True), (16, False)])
def test_online_param_count(preset, feature_size, peephole):
  cfg = configs.get_config(preset, "online")
  cfg.model.feature_size, cfg.model.peephole = feature_size, peephole
  want = online_formula(cfg.model, 80)
  assert online_param_count(cfg.model, 80) == param_count(cfg, 80) == want


@pytest.mark.parametrize("preset,model_type", [("iam", "mdlstm"), ("small", "online")])
def test_config_survives_json_round_trip(preset, model_type):
  """Checkpoint metadata stores configs as JSON (tuples come back as lists); the model built
  from it must be the same, with a hashable graph (jit caches on it)."""
  cfg = configs.get_config(preset, model_type)
  back = ml_collections.ConfigDict(json.loads(cfg.to_json()))
  model = nnx.eval_shape(lambda: build_model(back, 80, rngs=nnx.Rngs(0)))
  hash(nnx.graphdef(model))
  assert model.reduction() == nnx.eval_shape(
    lambda: build_model(cfg, 80, rngs=nnx.Rngs(0))).reduction()
  assert param_count(back, 80) == param_count(cfg, 80)


def test_check_feasible():
  # Frames at reduction 4: 10, 2, 5 for 5, 3, 5 labels.
  widths, lengths = [40, 8, 17], [5, 3, 5]
  assert check_feasible(widths, lengths, 4) == [1]
  assert check_feasible(widths, lengths, (64, 4), frames_per_label=2) == [1, 2]
  assert check_feasible(widths, lengths, 1) == []
  with pytest.raises(ValueError):
    check_feasible(widths, lengths[:2], 4)


def test_configs_reject_unknown_presets():
  with pytest.raises(ValueError):
    configs.get_config("graves", "mdlstm")
  with pytest.raises(ValueError):
    configs.get_config("small", "hmm")
  for preset in configs.MDLSTM_PRESETS:
    cfg = configs.get_config(preset)
    assert cfg.input == "images" and len(cfg.model.input_block) == 2


def finite_grads(model, x, mask):
  graphdef, state = nnx.split(model)
  loss, grads = loss_and_grad(graphdef, state, x, mask, *labels())
  assert np.isfinite(float(loss)) and float(loss) > 0
  leaves = jax.tree.leaves(grads)
  assert all(bool(jnp.isfinite(g).all()) for g in leaves)
  assert any(float(jnp.abs(g).max()) > 0 for g in leaves)


def test_ctc_gradient_through_mdlstm_is_finite():
  finite_grads(mdlstm_model(), *image_batch())


def test_ctc_gradient_through_online_reader_is_finite():
  ink, mask, _ = ink_batch()
  finite_grads(online_model(), ink, mask)


@pytest.mark.parametrize("which", ["mdlstm", "online"])
def test_adam_memorises_one_batch(which):
  if which == "mdlstm":
    model, (x, mask) = mdlstm_model(), image_batch()
  else:
    model, (x, mask, _) = online_model(), ink_batch()
  graphdef, params = nnx.split(model)
  opt_state = ADAM.init(params)
  losses = []
  for _ in range(12):
    loss, grads = loss_and_grad(graphdef, params, x, mask, *labels())
    params, opt_state = adam_update(grads, opt_state, params)
    losses.append(float(loss))
  assert losses[-1] < 0.5 * losses[0], losses
