"""Transcription forms: IAM's token-spaced text, natural text, and the form error rates use.

IAM's lines.txt writes every punctuation mark and clitic as its own token (`Brentano , who`,
`Nobody 's going`, `He said : " No ! "`), while a reader of the ink sees natural text
(`Brentano, who`, `Nobody's going`, `He said: "No!"`). `natural_text` turns the first into the
second, so models learn and are scored on what is written on the page. `comparison_form` is the
single form both references and hypotheses are reduced to before CER/WER, so that a reader is not
charged for how it spaces punctuation, and so that the few quotes natural_text cannot orient
(below) cost nothing either way.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from handwriting.data.report import DataError, SkipReport

# Tokens that attach to the word before them (no space before).
CLOSING = frozenset({",", ".", ";", ":", "!", "?", ")", "]", "}", "..."})
# Tokens that attach to the word after them (no space after).
OPENING = frozenset({"(", "[", "{"})
# Straight quotes: IAM has only these; whether one opens or closes is read from its context.
QUOTES = frozenset({'"', "'"})
# Contractions and possessives IAM splits off (`Nobody 's`, `you 'll`, `THAT 'S`); compared
# lower-cased. Aphetic words such as `'em`, `'er`, `'ave` are words of their own and keep their
# space (`from 'em`). IAM writes `don't` joined; `n't` is here for text tokenised the Penn way.
CLITICS = frozenset({"'s", "'ll", "'d", "'re", "'m", "'ve", "n't"})
# A quote after `:` or an opening bracket opens (`stating : ' Lost`); one after a clause end closes
# when a lower-case word or another quote follows (`Love , " he`, `. ' "`). A sentence end alone
# says nothing: `it . " No` opens as often as `want . " But` closes.
_OPENS_AFTER = frozenset({":"}) | OPENING
_CLAUSE_END = frozenset({",", ";", ".", "!", "?", "..."})

_OPEN, _CLOSE = "open", "close"

# comparison_form: typographic quotes a reader (or OCR engine) may emit, as IAM's straight ones.
_QUOTE_MAP = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
                            "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"'})
_SPACE_BEFORE_CLOSING = re.compile(r"\s+(?=[,.;:!?)\]}]|n't\b)")
_SPACE_AFTER_OPENING = re.compile(r"(?<=[(\[{])\s+")
_SPACE_AROUND_QUOTE = re.compile(r"\s*([\"'])\s*")


def _local_role(tokens: Sequence[str], i: int, roles: dict[int, str]) -> str | None:
  """What the neighbours of the quote at `i` say it is, or None when they say nothing."""
  tok = tokens[i]
  prev = tokens[i - 1] if i > 0 else None
  nxt = tokens[i + 1] if i + 1 < len(tokens) else None
  if prev is None and nxt is None:
    return None  # a lone quote: nothing to attach to
  if nxt is None or nxt in CLOSING:
    return _CLOSE
  if prev is None or prev in _OPENS_AFTER:
    return _OPEN
  if prev == tok:  # `? " " Mrs.`: no empty quotation, so the second opens (and the first closes)
    return _OPEN
  if prev in QUOTES and i - 1 in roles:  # nested quotes open together, close together: `. ' "`
    return roles[i - 1]
  if prev in _CLAUSE_END and (nxt in QUOTES or nxt[0].islower()):
    return _CLOSE
  return None


def _alternate(positions: list[int], roles: dict[int, str]) -> None:
  """Fills unknown roles of one quote character by alternation from the known ones, in place.

  Quotes of one kind alternate open / close within a line. With none known and an even count
  they pair up left to right; with an odd count and none known the line holds one end of a quote
  that spans lines, and which one is not determinable: those stay unknown.
  """
  if not any(p in roles for p in positions):
    if len(positions) % 2 == 0:
      roles.update((p, _OPEN if k % 2 == 0 else _CLOSE) for k, p in enumerate(positions))
    return
  flip = {_OPEN: _CLOSE, _CLOSE: _OPEN}
  for order in (positions, positions[::-1]):  # forward, then backward from the first known
    last = None
    for p in order:
      if p in roles:
        last = roles[p]
      elif last is not None:
        last = roles[p] = flip[last]


def quote_roles(tokens: Sequence[str]) -> dict[int, str]:
  """Token index -> "open" or "close" for each quote token whose direction can be told.

  First each quote's neighbours are read, left to right (`_local_role`): before the line end or
  closing punctuation it closes; at the line start or after `:` or `(` it opens; of two equal
  quotes in a row the first closes and the second opens (`? " " Mrs.`); right after the other
  kind of quote it takes that one's role (`. ' "` closes both); after `, ; . ! ? ...` it closes
  when a lower-case word or a quote follows (`Love , " he`). Then `_alternate` fills the rest per
  quote character: `it . " No , " he said at last . " I` opens, closes, opens.
  """
  roles: dict[int, str] = {}
  for i, tok in enumerate(tokens):
    if tok in QUOTES and (role := _local_role(tokens, i, roles)) is not None:
      roles[i] = role
  for q in QUOTES:
    _alternate([i for i, tok in enumerate(tokens) if tok == q], roles)
  return roles


def natural_text(iam_tokens: str) -> str:
  """IAM's token-spaced transcription -> natural text, whitespace collapsed to single spaces.

  Rules (IAM writes `1,000`, `9.30`, `don't`, `Mr.` and `settlers'` as single tokens already):
  - closing punctuation `, . ; : ! ? ) ] } ...` joins the token before:
    `Brentano , who` -> `Brentano, who`; `( 280,000 members )` -> `(280,000 members)`.
  - clitics `'s 'll 'd 're 'm 've n't` (any case) join the word before:
    `Nobody 's going` -> `Nobody's going`; `THAT 'S` -> `THAT'S`; `do n't` -> `don't`;
    but `from 'em` stays (an aphetic word, not a clitic).
  - opening brackets `( [ {` join the token after.
  - a straight quote (`"` or a lone `'`) joins the token after when it opens and the token
    before when it closes (see `quote_roles`): `He said : " No ! "` -> `He said: "No!"`;
    `love " .` -> `love".`; `. ' " Mr.` -> `.'" Mr.`. A quote whose direction cannot be told
    (one end of a quote spanning lines, between two words) keeps both spaces: `sins ' was`.
  - everything else keeps its spaces: dashes `parties - the`, `&`, `*`, and `#` (IAM's mark for
    a crossed-out word) stay separate words; hyphens inside words (`con-`) are untouched.
  """
  tokens = iam_tokens.split()
  roles = quote_roles(tokens)
  out: list[str] = []
  for i, tok in enumerate(tokens):
    joins_prev = (tok in CLOSING or tok.lower() in CLITICS or roles.get(i) == _CLOSE)
    after_opening = i > 0 and (tokens[i - 1] in OPENING or roles.get(i - 1) == _OPEN)
    if out and not joins_prev and not after_opening:
      out.append(" ")
    out.append(tok)
  return "".join(out)


def comparison_form(text: str) -> str:
  """The form CER and WER are computed on, applied to reference and hypothesis alike.

  Whitespace is collapsed and stripped; spaces before `, . ; : ! ? ) ] }` and `n't` and after
  `( [ {` are removed (`Brentano ,` and `Brentano,` compare equal: a reader is not charged for
  spacing punctuation); typographic quotes become straight ones (IAM has only straight quotes)
  and the spaces on both sides of a quote or apostrophe are removed, because from IAM's tokens a
  quote's direction is not always determinable (`natural_text` leaves those spaced on both
  sides), and a reader must not win or lose on that guess: `said " No "`, `said "No"` -> `said"No"`;
  `Nobody 's` -> `Nobody's`. For WER this makes a quote glue its neighbours into one word, on
  both sides of the comparison alike.
  """
  text = " ".join(text.translate(_QUOTE_MAP).split())
  text = _SPACE_AROUND_QUOTE.sub(r"\1", text)
  text = _SPACE_BEFORE_CLOSING.sub("", text)
  return _SPACE_AFTER_OPENING.sub("", text)


# IAM ids in free text: a form `a01-000u`, or a line `a01-000u-00` (counted as its form).
_IAM_ID = re.compile(r"\b([a-z]\d\d-\d\d\d[a-z]?)(?:-\d\d)?\b")


def form_ids(path: str | os.PathLike[str]) -> set[str]:
  """The IAM form ids named anywhere in a text file (e.g. a manifest's id column): line ids
  `a01-000u-00` count as their form `a01-000u`."""
  try:
    return set(_IAM_ID.findall(Path(path).read_text(encoding="utf-8")))
  except (OSError, UnicodeDecodeError) as e:
    raise DataError(path, f"cannot read form ids: {e}") from None


def read_texts(path: str | os.PathLike[str], report: SkipReport) -> list[tuple[str, str]]:
  """(id, natural text) per line: IAM lines.txt rows (data/iam_lines.py), or plain text lines
  (ids `path:N`) for any other file."""
  from handwriting.data.iam_lines import parse_lines_txt
  records, bad = parse_lines_txt(path)
  if records:
    report.items.extend(bad.items)
    return [(r.id, natural_text(r.text)) for r in records]
  try:
    rows = Path(path).read_text(encoding="utf-8").splitlines()
  except (OSError, UnicodeDecodeError) as e:
    raise DataError(path, f"cannot read texts: {e}") from None
  return [(f"{path}:{i + 1}", " ".join(t.split())) for i, t in enumerate(rows) if t.strip()]
