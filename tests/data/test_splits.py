import pytest

from handwriting.data.report import DataError
from handwriting.data.splits import assign_splits, carve_by_group, read_split_lists, train_split


def form_of(line_id: str) -> str:
  return line_id.rsplit("-", 1)[0]


def lines(*forms: str, n: int = 3) -> list[str]:
  return [f"{f}-{k:02d}" for f in forms for k in range(1, n + 1)]


def test_read_split_lists(tmp_path):
  (tmp_path / "trainset.txt").write_bytes(b"a01-020x\r\n\r\n# a comment\nd04-081  # inline\n"
                                          b"a01-020x\n")
  (tmp_path / "testset_f.txt").write_text("a02-000\n")
  (tmp_path / "notes.md").write_text("not a list\n")
  lists = read_split_lists(tmp_path)
  assert lists == {"testset_f": ["a02-000"], "trainset": ["a01-020x", "d04-081"]}


def test_read_split_lists_errors(tmp_path):
  with pytest.raises(DataError, match="not found"):
    read_split_lists(tmp_path / "missing")
  with pytest.raises(DataError, match="no split lists"):
    read_split_lists(tmp_path)
  (tmp_path / "trainset.txt").write_text("\n# only a comment\n")
  with pytest.raises(DataError, match="trainset.txt: empty split list"):
    read_split_lists(tmp_path)


def test_entries_match_forms_exactly():
  # IAM-OnDB has both a01-053 and a01-053x: an entry without suffix names only its own form.
  items = lines("a01-053", "a01-053x", "d04-081")
  lists = {"trainset": ["a01-053x", "d04-081"], "testset_f": ["a01-053"]}
  a = assign_splits(items, form_of, lists, protocol="official")
  assert a.splits == {"trainset": lines("a01-053x", "d04-081"), "testset_f": lines("a01-053")}
  assert a.unlisted == [] and a.unmatched == {} and not a.carved


def test_line_id_entries_match_items():
  items = lines("a01-000u", n=2)
  a = assign_splits(items, form_of, {"trainset": ["a01-000u-01"], "testset": ["a01-000u-02"]},
                    protocol="official")
  assert a.splits == {"trainset": ["a01-000u-01"], "testset": ["a01-000u-02"]}


def test_graves_protocol_with_testset_v():
  items = lines("a01-000", "b01-000", "c01-000", "d01-000", "e01-000", "z09-999")
  lists = {"trainset": ["a01-000", "x00-000"], "testset_t": ["b01-000"],
           "testset_f": ["c01-000"], "testset_v": ["d01-000"], "readme": ["e01-000"]}
  a = assign_splits(items, form_of, lists, protocol="graves")
  assert a.splits == {"train": lines("a01-000", "b01-000", "c01-000"), "valid": lines("d01-000")}
  assert a.unlisted == lines("e01-000", "z09-999")  # reported, not lost
  assert a.unmatched == {"trainset": ["x00-000"]}
  assert a.ignored_lists == ["readme"] and not a.carved


def test_graves_protocol_carves_valid_by_form():
  forms = [f"a{i:02d}-000" for i in range(40)]
  items = lines(*forms)
  lists = {"trainset": forms[:30], "testset_t": forms[30:35], "testset_f": forms[35:]}
  a = assign_splits(items, form_of, lists, protocol="graves", valid_fraction=0.1, seed=3)
  assert a.carved
  train_forms = {form_of(i) for i in a.splits["train"]}
  valid_forms = {form_of(i) for i in a.splits["valid"]}
  assert len(valid_forms) == 4 and not train_forms & valid_forms
  assert len(a.splits["valid"]) == 12  # every line of a carved form moves with it
  assert sorted(a.splits["train"] + a.splits["valid"]) == sorted(items)
  again = assign_splits(items[::-1], form_of, lists, protocol="graves", valid_fraction=0.1, seed=3)
  assert {form_of(i) for i in again.splits["valid"]} == valid_forms  # order-independent
  other = assign_splits(items, form_of, lists, protocol="graves", valid_fraction=0.1, seed=4)
  assert {form_of(i) for i in other.splits["valid"]} != valid_forms


def test_no_lists_puts_everything_in_train_then_carves():
  items = lines("a01-000", "b01-000", "c01-000")
  a = assign_splits(items, form_of, None, protocol="graves", valid_fraction=0.05)
  assert len({form_of(i) for i in a.splits["valid"]}) == 1
  assert len(a.splits["train"]) == 6 and a.unlisted == []
  with pytest.raises(ValueError, match="needs split lists"):
    assign_splits(items, form_of, None, protocol="official")
  with pytest.raises(ValueError, match="unknown protocol"):
    assign_splits(items, form_of, None, protocol="nope")


def test_entry_in_two_lists_is_an_error():
  with pytest.raises(DataError, match="'a01-000' is also in trainset"):
    assign_splits(lines("a01-000"), form_of, {"trainset": ["a01-000"], "testset_v": ["a01-000"]})


def test_carve_by_group_edge_cases():
  items = lines("a", "b", n=2)
  assert carve_by_group(items, form_of, 0.0, seed=0) == (items, [])
  kept, carved = carve_by_group(items, form_of, 0.01, seed=0)  # at least one group
  assert len(carved) == 2 and len(kept) == 2
  assert carve_by_group(lines("a"), form_of, 0.5, seed=0) == (lines("a"), [])  # cannot split
  with pytest.raises(ValueError):
    carve_by_group(items, form_of, 1.0, seed=0)


def test_train_split_name():
  assert train_split({"train": ["x"], "valid": []}) == "train"
  assert train_split({"trainset": ["x"], "testset_f": ["y"]}) == "trainset"
  with pytest.raises(DataError, match="no non-empty training split"):
    train_split({"testset_f": ["y"]})
