"""A slow, obvious NumPy implementation of the synthesis network of Graves 2013, section 5, written
from the paper's equations only (own loops, float64), to test the JAX model against.

  eq 46   phi(t, u) = sum_k alpha_k exp(-beta_k (kappa_k - u)^2)
  eq 47   w_t = sum_u phi(t, u) c_u
  eqs 48-51  (alpha_hat, beta_hat, kappa_hat) = W_h1p h^1_t + b_p;  alpha = exp(alpha_hat),
          beta = exp(beta_hat), kappa_t = kappa_{t-1} + exp(kappa_hat)   (divided by kappa_scale)
  eq 52   h^1_t = H(W_ih1 x_t + W_h1h1 h^1_{t-1} + W_wh1 w_{t-1} + b^1)
  eq 53   h^n_t = H(W_ihn x_t + W_h(n-1)hn h^(n-1)_t + W_hnhn h^n_{t-1} + W_whn w_t + b^n)
  eq 54   y_hat_t = b_y + sum_n W_hny h^n_t
  eq 55   Pr(x_{t+1} | y_t), the mixture density of eqs 18-25, and the loss of eq 26:
          -sum_t log Pr(x_{t+1} | y_t)

H is the peephole LSTM of eqs 7-11. Nothing here calls the package's model, cells, window or
mixture code; only the weights are read from the module (`weights`), by name and layout.
"""

from __future__ import annotations

import math

import numpy as np


def sigmoid(a):
  return 1.0 / (1.0 + math.exp(-a))


def weights(model) -> dict:
  """The module's parameters as float64 arrays, named after the paper's matrices."""
  H, V, L = model.hidden_size, model.alphabet_size, model.num_layers
  w = {"H": H, "V": V, "L": L, "kappa_scale": float(model.kappa_scale), "layers": []}
  for n, cell in enumerate(model.cells):
    wx = np.asarray(cell.w_x[...], np.float64)
    layer = {"W_h": np.asarray(cell.w_h[...], np.float64), "b": np.asarray(cell.b[...], np.float64),
             "peep": np.asarray(cell.w_c[...], np.float64), "W_i": wx[:3]}
    if n > 0:  # layers 2..L: input rows [x (3), h^(n-1) (H), w (V)]
      layer["W_below"] = wx[3:3 + H]
      layer["W_w"] = wx[3 + H:]
    w["layers"].append(layer)
  w["W_w1"] = np.asarray(model.window_in.kernel[...], np.float64)  # w_{t-1} into layer 1
  w["W_p"] = np.asarray(model.window_out.kernel[...], np.float64)
  w["b_p"] = np.asarray(model.window_out.bias[...], np.float64)
  w["W_y"] = np.asarray(model.output.kernel[...], np.float64)
  w["b_y"] = np.asarray(model.output.bias[...], np.float64)
  return w


def lstm_step(layer: dict, pre_in: np.ndarray, h: np.ndarray, c: np.ndarray):
  """Eqs 7-11 one unit at a time; `pre_in` is every input's contribution except h_{t-1}."""
  H = len(h)
  pre = pre_in + h @ layer["W_h"] + layer["b"]
  h_new, c_new = np.zeros(H), np.zeros(H)
  for j in range(H):
    i = sigmoid(pre[j] + layer["peep"][0, j] * c[j])
    f = sigmoid(pre[H + j] + layer["peep"][1, j] * c[j])
    c_new[j] = f * c[j] + i * math.tanh(pre[2 * H + j])
    o = sigmoid(pre[3 * H + j] + layer["peep"][2, j] * c_new[j])
    h_new[j] = o * math.tanh(c_new[j])
  return h_new, c_new


def window_step(w: dict, h1: np.ndarray, kappa: np.ndarray, text_UxV: np.ndarray):
  """Eqs 46-51: the new kappa and the window vector w_t for one line."""
  p = h1 @ w["W_p"] + w["b_p"]
  K = len(kappa)
  alpha, beta = np.exp(p[:K]), np.exp(p[K:2 * K])
  kappa = kappa + np.exp(p[2 * K:]) / w["kappa_scale"]
  U = len(text_UxV)
  phi = np.zeros(U)
  for u in range(1, U + 1):  # character positions are 1-based in the paper
    phi[u - 1] = sum(alpha[k] * math.exp(-beta[k] * (kappa[k] - u) ** 2) for k in range(K))
  w_t = np.zeros(text_UxV.shape[1])
  for u in range(U):
    w_t += phi[u] * text_UxV[u]
  return kappa, w_t


def forward(w: dict, x_Tx3: np.ndarray, text_UxV: np.ndarray) -> np.ndarray:
  """y_hat_t for t = 1..T (eqs 52-54) of one line: [T, 1 + 6M]."""
  H, L = w["H"], w["L"]
  K = w["W_p"].shape[1] // 3
  hs = [np.zeros(H) for _ in range(L)]
  cs = [np.zeros(H) for _ in range(L)]
  kappa, w_prev = np.zeros(K), np.zeros(w["V"])
  out = []
  for t in range(len(x_Tx3)):
    x = x_Tx3[t]
    layer = w["layers"][0]
    hs[0], cs[0] = lstm_step(layer, x @ layer["W_i"] + w_prev @ w["W_w1"], hs[0], cs[0])  # eq 52
    kappa, w_t = window_step(w, hs[0], kappa, text_UxV)
    for n in range(1, L):  # eq 53: h^(n-1) at this step and the window of this step, w_t
      layer = w["layers"][n]
      pre = x @ layer["W_i"] + hs[n - 1] @ layer["W_below"] + w_t @ layer["W_w"]
      hs[n], cs[n] = lstm_step(layer, pre, hs[n], cs[n])
    out.append(np.concatenate(hs) @ w["W_y"] + w["b_y"])  # eq 54
    w_prev = w_t
  return np.array(out)


def point_nll(y_hat: np.ndarray, x_next: np.ndarray) -> float:
  """-log Pr(x_{t+1} | y_t), eqs 18-26, straight from the formulas (no log-space tricks)."""
  M = (len(y_hat) - 1) // 6
  e_hat, pi_hat = y_hat[0], y_hat[1:1 + M]
  mu1, mu2 = y_hat[1 + M:1 + 2 * M], y_hat[1 + 2 * M:1 + 3 * M]
  s1, s2 = np.exp(y_hat[1 + 3 * M:1 + 4 * M]), np.exp(y_hat[1 + 4 * M:1 + 5 * M])
  rho = np.tanh(y_hat[1 + 5 * M:1 + 6 * M])
  e = 1.0 / (1.0 + math.exp(e_hat))  # eq 18
  pi = np.exp(pi_hat - pi_hat.max())
  pi /= pi.sum()  # eq 19
  density = 0.0
  for j in range(M):  # eqs 24-25
    d1, d2 = x_next[0] - mu1[j], x_next[1] - mu2[j]
    Z = (d1 / s1[j]) ** 2 + (d2 / s2[j]) ** 2 - 2 * rho[j] * d1 * d2 / (s1[j] * s2[j])
    density += pi[j] * math.exp(-Z / (2 * (1 - rho[j] ** 2))) / (
      2 * math.pi * s1[j] * s2[j] * math.sqrt(1 - rho[j] ** 2))
  return -math.log(density) - math.log(e if x_next[2] == 1 else 1.0 - e)


def sequence_nll(w: dict, ink_Tx3: np.ndarray, text_UxV: np.ndarray) -> float:
  """Eq 26 for one line: the network reads rows 0..T-2 and is scored on rows 1..T-1."""
  y = forward(w, ink_Tx3[:-1], text_UxV)
  return sum(point_nll(y[t], ink_Tx3[t + 1]) for t in range(len(y)))
