"""Cells against NumPy transcriptions of the papers' equations; scans, masks, gradients.

Dimension letters: B batch, T time, D inputs, H hidden, N MDLSTM dimensions, G gate blocks.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.test_util import check_grads

from handwriting.nn.cells import LSTM, BiLSTM, LSTMCell, MDLSTMCell, RecurrentCell, lstm_scan
from tests.nn.helpers import randomize

B, T, D, H = 3, 6, 5, 4




def np_params(module: nnx.Module) -> dict:
  return {k: np.asarray(v[...], np.float64) for k, v in vars(module).items()
          if isinstance(v, nnx.Param)}


def sigmoid(z):
  return 1.0 / (1.0 + np.exp(-z))


def np_lstm_step(p, x_BxD, h_BxH, c_BxH, peephole):
  """Graves 2013 eqs 7-11 written gate by gate, weights sliced out of the packed matrices."""
  W = {k: (p["w_x"][:, j * H:(j + 1) * H], p["w_h"][:, j * H:(j + 1) * H],
           p["b"][j * H:(j + 1) * H]) for j, k in enumerate("ifco")}
  w_ci, w_cf, w_co = p["w_c"] if peephole else np.zeros((3, H))

  def net(k):
    w_x, w_h, b = W[k]
    return x_BxD @ w_x + h_BxH @ w_h + b
  i = sigmoid(net("i") + w_ci * c_BxH)
  f = sigmoid(net("f") + w_cf * c_BxH)
  c = f * c_BxH + i * np.tanh(net("c"))
  o = sigmoid(net("o") + w_co * c)
  return o * np.tanh(c), c


def random_inputs(seed, *shape):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("peephole", [True, False])
def test_lstm_step_matches_numpy_equations(peephole):
  cell = LSTMCell(D, H, peephole=peephole, rngs=nnx.Rngs(0))
  randomize(cell, 1)
  x, h, c = random_inputs(2, B, D), random_inputs(3, B, H), random_inputs(4, B, H)
  (h1, c1), out = cell.step((jnp.asarray(h), jnp.asarray(c)), cell.project(jnp.asarray(x)))
  h_ref, c_ref = np_lstm_step(np_params(cell), x, h, c, peephole)
  np.testing.assert_allclose(h1, h_ref, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(c1, c_ref, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(out, h1)
  assert (cell.w_c is None) == (not peephole)


def test_forget_bias_init_and_zero_carry():
  cell = LSTMCell(D, H, forget_bias=1.5, rngs=nnx.Rngs(0))
  b_4xH = np.asarray(cell.b[...]).reshape(4, H)
  np.testing.assert_array_equal(b_4xH, [[0.0] * H, [1.5] * H, [0.0] * H, [0.0] * H])
  h, c = cell.initial_carry(2)
  assert h.shape == c.shape == (2, H) and not np.any(h) and not np.any(c)


def test_scan_matches_python_loop_and_projection_inside():
  cell = LSTMCell(D, H, rngs=nnx.Rngs(0))
  randomize(cell, 5)
  x_BxTxD = random_inputs(6, B, T, D)
  h_BxTxH, (h_fin, c_fin) = lstm_scan(cell, cell.project(jnp.asarray(x_BxTxD)))
  p = np_params(cell)
  h, c = np.zeros((B, H)), np.zeros((B, H))
  carry = cell.initial_carry(B)
  for t in range(T):
    h, c = np_lstm_step(p, x_BxTxD[:, t], h, c, peephole=True)
    np.testing.assert_allclose(h_BxTxH[:, t], h, rtol=1e-4, atol=1e-5)
    carry, _ = cell.step(carry, cell.project(jnp.asarray(x_BxTxD[:, t])))  # projecting inside
    np.testing.assert_allclose(h_BxTxH[:, t], carry[0], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(h_fin, h, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(c_fin, c, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("reverse", [False, True])
def test_masked_padded_batch_equals_each_sequence_alone(reverse):
  layer = LSTM(D, H, reverse=reverse, rngs=nnx.Rngs(0))
  randomize(layer, 7)
  lengths = [T, 3, 1]
  x_BxTxD = random_inputs(8, B, T, D) * 3.0  # padding holds garbage, not zeros
  mask_BxT = np.arange(T)[None, :] < np.asarray(lengths)[:, None]
  h_BxTxH, (h_fin, c_fin) = layer(jnp.asarray(x_BxTxD), jnp.asarray(mask_BxT))
  for b, n in enumerate(lengths):
    alone_h, (alone_hf, alone_cf) = layer(jnp.asarray(x_BxTxD[b:b + 1, :n]))
    np.testing.assert_allclose(h_BxTxH[b, :n], alone_h[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(h_BxTxH[b, n:], 0.0)
    np.testing.assert_allclose(h_fin[b], alone_hf[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c_fin[b], alone_cf[0], rtol=1e-5, atol=1e-6)
  if reverse:  # the backward direction's last output (t = 0) has read the whole sequence
    np.testing.assert_allclose(h_BxTxH[:, 0], h_fin, rtol=1e-6)


def test_reverse_scan_is_forward_scan_on_flipped_input():
  cell = LSTMCell(D, H, rngs=nnx.Rngs(0))
  randomize(cell, 9)
  xproj = cell.project(jnp.asarray(random_inputs(10, B, T, D)))
  rev_h, rev_carry = lstm_scan(cell, xproj, reverse=True)
  fwd_h, fwd_carry = lstm_scan(cell, xproj[:, ::-1])
  np.testing.assert_allclose(rev_h, fwd_h[:, ::-1], rtol=1e-6)
  np.testing.assert_allclose(rev_carry[1], fwd_carry[1], rtol=1e-6)


def test_bilstm_concatenates_directions_and_respects_padding():
  bi = BiLSTM(D, H, rngs=nnx.Rngs(0))
  randomize(bi, 11)
  x_BxTxD = random_inputs(12, 2, T, D)
  mask_BxT = np.arange(T)[None, :] < np.asarray([[T], [4]])
  out = bi(jnp.asarray(x_BxTxD), jnp.asarray(mask_BxT))
  assert out.shape == (2, T, 2 * H)
  alone = bi(jnp.asarray(x_BxTxD[1:, :4]))
  np.testing.assert_allclose(out[1, :4], alone[0], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out[0, :, :H], bi.forward(jnp.asarray(x_BxTxD[:1]))[0][0], rtol=1e-6)


def test_jit_and_nnx_grad_through_the_scan():
  layer = LSTM(D, H, rngs=nnx.Rngs(0))
  x = jnp.asarray(random_inputs(13, B, T, D))
  mask = jnp.asarray(np.arange(T)[None, :] < np.asarray([[T], [2], [5]]))

  def loss(layer, x, mask):
    return jnp.sum(layer(x, mask)[0] ** 2)
  np.testing.assert_allclose(nnx.jit(loss)(layer, x, mask), loss(layer, x, mask), rtol=1e-5)
  grads = nnx.jit(nnx.grad(loss))(layer, x, mask)
  eager = nnx.grad(loss)(layer, x, mask)
  for g, e in zip(jax.tree.leaves(grads), jax.tree.leaves(eager)):
    np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-6)
  assert all(np.any(g != 0) for g in jax.tree.leaves(grads))


def test_lstm_scan_check_grads_float64():
  with jax.enable_x64(True):
    layer = LSTM(2, 3, param_dtype=jnp.float64, rngs=nnx.Rngs(0))
    randomize(layer, 14)
    graphdef, params = nnx.split(layer)
    rng = np.random.default_rng(15)
    x = jnp.asarray(rng.normal(size=(2, 4, 2)))
    w = jnp.asarray(rng.normal(size=(2, 4, 3)))
    mask = jnp.asarray([[1, 1, 1, 1], [1, 1, 0, 0]])

    def f(params, x):
      h, (_h_fin, c_fin) = nnx.merge(graphdef, params)(x, mask)
      return jnp.sum(w * h) + jnp.sum(c_fin)
    check_grads(jax.jit(f), (params, x), order=1, modes=["rev"])


def test_clip_changes_gradients_not_outputs():
  kwargs = {"peephole": False, "rngs": nnx.Rngs(0)}
  on, off = LSTMCell(D, H, clip=10.0, **kwargs), LSTMCell(D, H, clip=None, **kwargs)
  randomize(on, 16)
  nnx.update(off, nnx.state(on, nnx.Param))
  xproj = on.project(jnp.asarray(random_inputs(17, B, D)))
  carry = (jnp.asarray(random_inputs(18, B, H)), jnp.asarray(random_inputs(19, B, H)))
  w = jnp.asarray(random_inputs(20, B, H)) * 1000.0

  def loss(cell, xproj):  # one step, no peepholes: dL/dxproj is the gate-input derivative
    return jnp.sum(w * cell.step(carry, xproj)[1])
  np.testing.assert_array_equal(on.step(carry, xproj)[1], off.step(carry, xproj)[1])
  g_on, g_off = jax.grad(lambda x: loss(on, x))(xproj), jax.grad(lambda x: loss(off, x))(xproj)
  assert np.abs(g_off).max() > 10.0  # the test must exercise the clipping
  np.testing.assert_allclose(g_on, np.clip(g_off, -10.0, 10.0), rtol=1e-6)


def test_clip_bounds_gate_gradients_over_a_scan_with_peepholes():
  on = LSTMCell(D, H, clip=1.0, rngs=nnx.Rngs(0))
  off = LSTMCell(D, H, clip=None, rngs=nnx.Rngs(0))
  xproj = on.project(jnp.asarray(random_inputs(21, B, T, D)))
  w = jnp.asarray(random_inputs(22, B, T, H)) * 100.0

  def loss(cell, xproj):
    return jnp.sum(w * lstm_scan(cell, xproj)[0])
  g_on = jax.grad(lambda x: loss(on, x))(xproj)
  g_off = jax.grad(lambda x: loss(off, x))(xproj)
  assert np.abs(g_on).max() <= 1.0 + 1e-6 and np.abs(g_off).max() > 1.0


def np_mdlstm_step(p, x_BxD, states, peephole):
  """Graves' thesis sec. 8.2.1 written out gate by gate with per-dimension weights W^d."""
  N = len(states)
  G = 3 + N

  def W(j):  # input weights, per-dimension recurrent weights and bias of gate block j
    cols = slice(j * H, (j + 1) * H)
    return p["w_x"][:, cols], [p["w_h"][d * H:(d + 1) * H, cols] for d in range(N)], p["b"][cols]

  def net(j):
    w_x, w_h, b = W(j)
    return x_BxD @ w_x + sum(h_d @ w_h[d] for d, (h_d, _) in enumerate(states)) + b
  zero = np.zeros(H)
  w_ci = p["w_ci"] if peephole else zero
  i = sigmoid(net(0) + sum(w_ci * c_d for _, c_d in states))
  f = [sigmoid(net(1 + d) + (p["w_cf"][d] if peephole else zero) * states[d][1])
       for d in range(N)]
  c = i * np.tanh(net(G - 2)) + sum(f[d] * states[d][1] for d in range(N))
  o = sigmoid(net(G - 1) + (p["w_co"] if peephole else zero) * c)
  return o * np.tanh(c), c


@pytest.mark.parametrize("peephole", [True, False])
def test_mdlstm_step_matches_numpy_equations(peephole):
  cell = MDLSTMCell(D, H, ndim=2, peephole=peephole, rngs=nnx.Rngs(0))
  randomize(cell, 23)
  x = random_inputs(24, B, D)
  states = [(random_inputs(25 + d, B, H), random_inputs(27 + d, B, H)) for d in range(2)]
  h, c = cell.step([tuple(map(jnp.asarray, s)) for s in states], cell.project(jnp.asarray(x)))
  h_ref, c_ref = np_mdlstm_step(np_params(cell), x, states, peephole)
  np.testing.assert_allclose(h, h_ref, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(c, c_ref, rtol=1e-5, atol=1e-6)
  assert cell.project(jnp.zeros((B, 7, D))).shape == (B, 7, 5 * H)


def test_mdlstm_forget_biases_and_state_count():
  cell = MDLSTMCell(D, H, ndim=3, forget_bias=2.0, rngs=nnx.Rngs(0))
  np.testing.assert_array_equal(np.asarray(cell.b[...]).reshape(6, H)[:, 0], [0, 2, 2, 2, 0, 0])
  assert cell.w_h[...].shape == (3 * H, 6 * H)
  with pytest.raises(ValueError, match="ndim=3"):
    cell.step([cell.initial_state(B)] * 2, jnp.zeros((B, 6 * H)))


def test_mdlstm_step_accepts_extra_leading_axes():
  cell = MDLSTMCell(D, H, rngs=nnx.Rngs(0))
  randomize(cell, 29)
  x_BxLxD = jnp.asarray(random_inputs(30, B, 2, D))
  states = [tuple(jnp.asarray(random_inputs(31 + 2 * d + k, B, 2, H)) for k in range(2))
            for d in range(2)]
  h, c = cell.step(states, cell.project(x_BxLxD))
  flat = [tuple(a.reshape(B * 2, H) for a in s) for s in states]
  h_flat, c_flat = cell.step(flat, cell.project(x_BxLxD.reshape(B * 2, D)))
  np.testing.assert_allclose(h.reshape(B * 2, H), h_flat, rtol=1e-6)
  np.testing.assert_allclose(c.reshape(B * 2, H), c_flat, rtol=1e-6)


def test_one_dimensional_mdlstm_is_the_lstm():
  lstm = LSTMCell(D, H, forget_bias=0.0, rngs=nnx.Rngs(0))
  randomize(lstm, 33)
  md = MDLSTMCell(D, H, ndim=1, rngs=nnx.Rngs(1))
  w_c = lstm.w_c[...]
  nnx.update(md, nnx.State({"w_x": lstm.w_x[...], "w_h": lstm.w_h[...], "b": lstm.b[...],
                           "w_ci": w_c[0], "w_cf": w_c[1:2], "w_co": w_c[2]}))
  x, h, c = (jnp.asarray(random_inputs(34 + k, B, n)) for k, n in enumerate([D, H, H]))
  (h_lstm, c_lstm), _ = lstm.step((h, c), lstm.project(x))
  h_md, c_md = md.step([(h, c)], md.project(x))
  np.testing.assert_allclose(h_md, h_lstm, rtol=1e-6)
  np.testing.assert_allclose(c_md, c_lstm, rtol=1e-6)


@pytest.mark.parametrize("make,prev_of", [
  (lambda: LSTMCell(D, H, rngs=nnx.Rngs(0)), lambda carry: carry),
  (lambda: MDLSTMCell(D, H, ndim=2, rngs=nnx.Rngs(0)), lambda carry: [carry, carry]),
], ids=["lstm", "mdlstm"])
def test_both_cells_share_one_interface(make, prev_of):
  cell = make()
  randomize(cell, 37)
  assert isinstance(cell, RecurrentCell)
  assert (cell.in_features, cell.hidden_size) == (D, H)
  h0, c0 = cell.initial_carry(B)
  assert h0.shape == c0.shape == (B, H) and not np.any(h0) and not np.any(c0)
  assert cell.initial_carry((B, 2))[0].shape == (B, 2, H)  # extra leading axes
  x_BxD = jnp.asarray(random_inputs(38, B, D))
  prev = prev_of((jnp.asarray(random_inputs(39, B, H)), jnp.asarray(random_inputs(40, B, H))))
  (h, c), out = cell(prev, x_BxD)
  np.testing.assert_array_equal(out, h)  # the output is the new hidden state
  want = cell.step(prev, cell.project(x_BxD))  # __call__ is step after project
  want_h, want_c = want[0] if isinstance(cell, LSTMCell) else want
  np.testing.assert_array_equal(h, want_h)
  np.testing.assert_array_equal(c, want_c)


def test_mdlstm_check_grads_float64_on_a_2x2_grid():
  with jax.enable_x64(True):
    cell = MDLSTMCell(2, 3, param_dtype=jnp.float64, rngs=nnx.Rngs(0))
    randomize(cell, 37)
    graphdef, params = nnx.split(cell)
    x_2x2x1x2 = jnp.asarray(np.random.default_rng(38).normal(size=(2, 2, 1, 2)))

    def f(params, x):
      cell = nnx.merge(graphdef, params)
      zero = cell.initial_state(1)
      s = {}
      for i in range(2):  # a per-pixel reference sweep: (i-1, j) and (i, j-1) come first
        for j in range(2):
          prev = [s.get((i - 1, j), zero), s.get((i, j - 1), zero)]
          s[i, j] = cell.step(prev, cell.project(x[i, j]))
      return jnp.sum(s[1, 1][0] * jnp.arange(1.0, 4.0)) + jnp.sum(s[1, 1][1])
    check_grads(jax.jit(f), (params, x_2x2x1x2), order=1, modes=["rev"])
