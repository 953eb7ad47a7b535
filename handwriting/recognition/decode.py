"""CTC decoding: best path (greedy) and prefix beam search with a character language model.

Dimension letters: B batch, T frames, K classes (class 0 is the CTC blank). Decoding runs in NumPy
on the host: it is sequential over frames and branches on prefixes, which suits neither jit nor
an accelerator, and a line takes milliseconds.

Best path (Graves et al. 2006, sec. 3.2, eq. 15): the most probable frame-wise path, collapsed
(repeats merged, blanks dropped). It is not always the most probable labelling, which sums over
all paths; prefix search approximates that sum (Graves et al. 2006, sec. 3.2; in the per-prefix
blank / non-blank form of Hannun et al. 2014, "First-pass large vocabulary continuous speech
recognition using bi-directional recurrent DNNs", Algorithm 1).
"""

from __future__ import annotations

import numpy as np

from handwriting.recognition.lm import CharLM

BLANK = 0
NEG_INF = -np.inf

Prefix = tuple[int, ...]


def _collapse(path_T: np.ndarray) -> np.ndarray:
  keep = np.ones(len(path_T), dtype=bool)
  keep[1:] = path_T[1:] != path_T[:-1]
  out = path_T[keep]
  return out[out != BLANK].astype(np.int32)


def greedy_decode(logits: np.ndarray, mask: np.ndarray | None = None) -> list[np.ndarray]:
  """Best-path labels of each sequence: argmax per frame, merge repeats, drop blanks.

  Args:
    logits: [T, K] or [B, T, K] scores (logits or log-probabilities: argmax is the same).
    mask: [T] or [B, T], 1 on valid frames; None means all valid.

  Returns:
    One int32 label array per sequence (a list of one for [T, K] input).
  """
  logits_BxTxK = np.asarray(logits)
  if logits_BxTxK.ndim == 2:
    logits_BxTxK = logits_BxTxK[None]
    mask = None if mask is None else np.asarray(mask)[None]
  if mask is None:
    mask = np.ones(logits_BxTxK.shape[:2], dtype=bool)
  path_BxT = np.argmax(logits_BxTxK, axis=-1)
  return [_collapse(path_T[np.asarray(m_T) > 0]) for path_T, m_T in zip(path_BxT, mask)]


class _LMScores:
  """Weighted LM log-probabilities per prefix, memoised on the context that determines them."""

  def __init__(self, lm: CharLM | None, weight: float):
    self.lm, self.weight = lm, weight
    self.cache: dict[Prefix, np.ndarray] = {}

  @property
  def active(self) -> bool:
    return self.lm is not None and self.weight != 0.0

  def __call__(self, prefix: Prefix) -> np.ndarray:
    """[K] weighted log P_lm(c | prefix) for every label c (c = 0: end of line)."""
    assert self.lm is not None
    # Only the last order - 1 labels matter (a shorter prefix is start-padded by the LM).
    key = prefix[-(self.lm.order - 1):] if self.lm.order > 1 else ()
    if key not in self.cache:
      self.cache[key] = self.weight * self.lm.log_probs(key)
    return self.cache[key]


def beam_search(log_probs_TxK: np.ndarray, beam: int = 10, lm: CharLM | None = None,
                lm_weight: float = 0.0,
                insertion_bonus: float = 0.0) -> list[tuple[np.ndarray, float]]:
  """CTC prefix beam search; returns up to `beam` (labels, score) pairs, best first.

  Each prefix keeps log p_b (paths so far ending in blank) and log p_nb (ending in its last
  label). Per frame, a prefix l is kept with a blank or a repeat of its last label, or extended by
  a label c: p_nb(l + c) += p(c) * (p_b(l) if c == last(l) else p_b(l) + p_nb(l)). When a label is
  appended the score also gets lm_weight * log P_lm(c | l) + insertion_bonus (Hannun et al. 2014,
  eq. 3: alpha log P_lm + beta |l|). At the end, lm_weight * log P_lm(end of line | l) is added.
  With lm_weight = insertion_bonus = 0 the score is log p(l | x) summed over the alignments that
  the search kept (exact when the beam holds every prefix).

  Args:
    log_probs_TxK: per-frame log-probabilities (log-softmax of the network outputs), valid frames.
    beam: number of prefixes kept after each frame.
    lm: character LM over the same alphabet (lm.size == K), or None.
  """
  log_probs_TxK = np.asarray(log_probs_TxK, dtype=np.float64)
  num_frames, k = log_probs_TxK.shape
  if beam < 1:
    raise ValueError(f"beam must be >= 1, got {beam}")
  if lm is not None and lm.size != k:
    raise ValueError(f"language model has {lm.size} labels, the network {k}")
  lm_scores = _LMScores(lm, lm_weight)
  prefixes: list[Prefix] = [()]
  p_b, p_nb = np.array([0.0]), np.array([NEG_INF])
  for t in range(num_frames):
    prefixes, p_b, p_nb = _step(prefixes, p_b, p_nb, log_probs_TxK[t], beam, lm_scores,
                                insertion_bonus)
  scores = np.logaddexp(p_b, p_nb)
  if lm_scores.active:
    scores = scores + np.array([lm_scores(p)[BLANK] for p in prefixes])  # 0: end of line
  order = np.argsort(-scores, kind="stable")
  return [(np.array(prefixes[i], dtype=np.int32), float(scores[i])) for i in order]


def _step(prefixes: list[Prefix], p_b: np.ndarray, p_nb: np.ndarray, lp_K: np.ndarray,
          beam: int, lm_scores: _LMScores,
          bonus: float) -> tuple[list[Prefix], np.ndarray, np.ndarray]:
  """One frame of prefix search over n prefixes: returns the `beam` best continuations."""
  n, k = len(prefixes), len(lp_K)
  last_n = np.array([p[-1] if p else -1 for p in prefixes])
  total_n = np.logaddexp(p_b, p_nb)
  # Staying on the same prefix: a blank, or the last label once more (collapsed into it).
  stay_b = total_n + lp_K[BLANK]
  stay_nb = np.where(last_n > 0, p_nb + lp_K[np.maximum(last_n, 0)], NEG_INF)
  # Extending prefix i by label c; a repeated label must come after a blank.
  base_nxK = np.repeat(total_n[:, None], k, axis=1)
  has_last = last_n > 0
  base_nxK[has_last, last_n[has_last]] = p_b[has_last]
  ext_nxK = base_nxK + lp_K[None, :] + bonus
  if lm_scores.active:
    ext_nxK += np.stack([lm_scores(p) for p in prefixes])
  ext_nxK[:, BLANK] = NEG_INF
  # An extension that is itself a kept prefix merges into that prefix's p_nb (and is not a new
  # candidate): the only way two routes reach the same prefix.
  index = {p: i for i, p in enumerate(prefixes)}
  for j, p in enumerate(prefixes):
    parent = index.get(p[:-1]) if p else None
    if parent is not None:
      stay_nb[j] = np.logaddexp(stay_nb[j], ext_nxK[parent, p[-1]])
      ext_nxK[parent, p[-1]] = NEG_INF
  # Pick the best `beam` among the n stays and the n*K extensions.
  cand = np.concatenate([np.logaddexp(stay_b, stay_nb), ext_nxK.ravel()])
  top = np.argpartition(-cand, beam - 1)[:beam] if len(cand) > beam else np.arange(len(cand))
  top = top[np.isfinite(cand[top])]
  new_prefixes, new_b, new_nb = [], [], []
  for c in top:
    if c < n:
      new_prefixes.append(prefixes[c])
      new_b.append(stay_b[c])
      new_nb.append(stay_nb[c])
    else:
      i, label = divmod(int(c) - n, k)
      new_prefixes.append(prefixes[i] + (label,))
      new_b.append(NEG_INF)
      new_nb.append(ext_nxK[i, label])
  return new_prefixes, np.array(new_b), np.array(new_nb)
