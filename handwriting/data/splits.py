"""Split lists and split assignment, shared by the IAM-OnDB and IAM readers.

A split list is a text file of ids, one per line (`a01-020x`, `d04-081`, or a line id such as
`a01-000u-00`). An entry names an item when it equals the item's id or the item's form id, exactly:
`a01-053` names the form `a01-053` only, not `a01-053x` (IAM-OnDB has both). The IAM-OnDB lists
(trainset.txt, testset_v.txt, testset_t.txt, testset_f.txt) hold form ids, which are the stroke
file names without their `-NN.xml` line number; on the real data every entry names exactly one
form and every form is in exactly one list.

Protocols:
  * "official": one split per list, named after the file (`trainset`, `testset_f`, ...).
  * "graves" (Graves 2013, §4): "we used the training set, test set and the larger of the
    validation sets for training and the smaller validation set for early-stopping", i.e.
    train = trainset + testset_t + testset_f and valid = testset_v. Without testset_v (or without
    any lists) valid is carved from the train forms (`carve_by_group`).

The carve is by form: all lines of a form (one writer's page) land on the same side. It is not
writer-disjoint for IAM-OnDB, whose writer ids are not in the file names (the form prefix such as
`a01` is the prompt text group, shared by several writers); pass a writer lookup as `group_of`
to `carve_by_group` where one is known (IAM's forms.txt) for a writer-disjoint carve.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from handwriting.data.report import DataError

# Which official lists make up each split of a protocol (list names are file stems).
PROTOCOLS: dict[str, dict[str, tuple[str, ...]]] = {
  "graves": {"train": ("trainset", "testset_t", "testset_f"), "valid": ("testset_v",)},
}
TRAIN_SPLITS = ("train", "trainset")  # the split whose statistics and alphabet a dataset uses


@dataclasses.dataclass
class SplitAssignment:
  """Result of `assign_splits`; nothing is dropped without being listed here."""

  splits: dict[str, list[str]]  # split name -> item ids, in input order
  unlisted: list[str]  # items that no list names
  unmatched: dict[str, list[str]]  # list name -> entries that name no item
  ignored_lists: list[str]  # lists the protocol does not use (their items are unlisted)
  carved: bool  # valid was carved from train by form
  lists_of: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # split -> its lists


def read_split_lists(splits_dir: str | Path) -> dict[str, list[str]]:
  """Every `*.txt` in `splits_dir` as {file stem: entries}.

  Entries are stripped; blank lines, `#` comments and repeated entries are skipped. A missing
  folder, a folder without lists or an empty list raises DataError.
  """
  folder = Path(splits_dir)
  if not folder.is_dir():
    raise DataError(folder, "split list folder not found")
  files = sorted(folder.glob("*.txt"))
  if not files:
    raise DataError(folder, "no split lists (*.txt) in this folder")
  lists = {}
  for f in files:
    entries = []
    for line in f.read_text(encoding="latin-1").splitlines():
      entry = line.split("#", 1)[0].strip()
      if entry and entry not in entries:
        entries.append(entry)
    if not entries:
      raise DataError(f, "empty split list")
    lists[f.stem] = entries
  return lists


def carve_by_group(item_ids: Sequence[str], group_of: Callable[[str], str], fraction: float,
                   seed: int) -> tuple[list[str], list[str]]:
  """(kept, carved) item ids: a `fraction` of the groups, drawn with `seed`, goes to carved.

  Deterministic: the draw depends only on the sorted set of groups and the seed, not on item
  order. At least one group is carved when fraction > 0 and at least one kept, so a single group
  cannot be split and gives carved = [].
  """
  if not 0.0 <= fraction < 1.0:
    raise ValueError(f"fraction must be in [0, 1), got {fraction}")
  groups = sorted({group_of(i) for i in item_ids})
  n = 0 if fraction == 0 else min(max(1, round(fraction * len(groups))), len(groups) - 1)
  perm = np.random.default_rng(seed).permutation(len(groups))
  chosen = {groups[int(g)] for g in perm[:n]}
  kept = [i for i in item_ids if group_of(i) not in chosen]
  carved = [i for i in item_ids if group_of(i) in chosen]
  return kept, carved


def _entry_owner(lists: Mapping[str, Sequence[str]]) -> dict[str, str]:
  """entry -> list name; an entry in two lists is a leak between splits and an error."""
  owner: dict[str, str] = {}
  for name, entries in lists.items():
    for e in entries:
      if e in owner:
        raise DataError(f"{name}.txt", f"entry {e!r} is also in {owner[e]}.txt")
      owner[e] = name
  return owner


def assign_splits(item_ids: Sequence[str], form_of: Callable[[str], str],
                  lists: Mapping[str, Sequence[str]] | None, protocol: str = "graves",
                  valid_fraction: float = 0.05, seed: int = 0) -> SplitAssignment:
  """Assigns each item to a split by the lists that name it or its form (see module doc).

  `lists` None (no split lists) puts every item in train, with valid carved by form ("graves"
  only). Items no list names are returned in `unlisted`, list entries naming no item in
  `unmatched`.
  """
  if protocol != "official" and protocol not in PROTOCOLS:
    raise ValueError(f"unknown protocol {protocol!r}: use 'official' or one of {list(PROTOCOLS)}")
  if lists is None:
    if protocol == "official":
      raise ValueError("protocol 'official' needs split lists")
    lists, owner, catch_all = {}, {}, True
  else:
    owner, catch_all = _entry_owner(lists), False
  if protocol == "official":
    split_of_list = {name: name for name in lists}
  else:
    split_of_list = {lst: split for split, names in PROTOCOLS[protocol].items() for lst in names}
  splits: dict[str, list[str]] = {s: [] for s in dict.fromkeys(split_of_list.values())}
  unlisted, used = [], set()
  for item in item_ids:
    entry = item if item in owner else form_of(item)
    lst = owner.get(entry)
    if lst is None and catch_all:
      splits["train"].append(item)
    elif lst is None or lst not in split_of_list:
      unlisted.append(item)
    else:
      used.add(entry)
      splits[split_of_list[lst]].append(item)
  carved = False
  has_train = any(splits.get(name) for name in TRAIN_SPLITS)
  if protocol != "official" and not splits.get("valid") and (catch_all or has_train):
    splits["train"], splits["valid"] = carve_by_group(splits["train"], form_of, valid_fraction,
                                                      seed)
    carved = True
  unmatched = {n: [e for e in es if e not in used] for n, es in lists.items()
               if n in split_of_list}
  lists_of = {split: [lst for lst, s in split_of_list.items() if s == split and lst in lists]
              for split in splits}
  return SplitAssignment(
    splits=splits, unlisted=unlisted, unmatched={n: es for n, es in unmatched.items() if es},
    ignored_lists=[n for n in lists if n not in split_of_list], carved=carved, lists_of=lists_of)


def train_split(splits: Mapping[str, Sequence[str]], required: bool = True) -> str | None:
  """Name of the split that statistics and the alphabet come from ("train", else "trainset");
  None, or DataError when `required`, if there is none."""
  for name in TRAIN_SPLITS:
    if splits.get(name):
      return name
  if not required:
    return None
  raise DataError("splits", f"no non-empty training split ({' or '.join(TRAIN_SPLITS)}) among "
                            f"{', '.join(splits) or 'none'}")
