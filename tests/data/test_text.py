import pytest

from handwriting.data import iam_lines
from handwriting.data.text import comparison_form, natural_text, quote_roles

# Hand-written in IAM's conventions (checked against lines.txt): punctuation and the clitics
# 's 'll 'd 're 'm 've are tokens of their own, while `don't`, `1,000`, `7.5`, `Dr.`, `farmers'`
# and `re-` are written as single tokens.
NATURAL = [
  ("Brentano , who came late .", "Brentano, who came late."),
  ("Wait ; then : go !", "Wait; then: go!"),
  ("Is it ?", "Is it?"),
  ("and so ...", "and so..."),
  ("Nobody 's home", "Nobody's home"),
  ("you 'll see what I 'd do", "you'll see what I'd do"),
  ("we 're sure they 've gone , I 'm told", "we're sure they've gone, I'm told"),
  ("SO THAT 'S IT", "SO THAT'S IT"),
  ("I do n't know", "I don't know"),
  ("I don't know", "I don't know"),
  ("catch 'em early", "catch 'em early"),  # aphetic `'em` is a word, not a clitic
  ("the farmers' union", "the farmers' union"),
  ("a club ( 1,000 members ) met", "a club (1,000 members) met"),
  ("on May 3 , 1950 at 7.5 p.m.", "on May 3, 1950 at 7.5 p.m."),
  ("Dr. Hale and Mrs. Vane", "Dr. Hale and Mrs. Vane"),
  ("the vote - a narrow one - stood", "the vote - a narrow one - stood"),  # dashes keep spaces
  ("a well-known re-", "a well-known re-"),
  ("the # small dog", "the # small dog"),  # `#`: a crossed-out word, kept as a word
  ("salt & pepper", "salt & pepper"),
  ("  extra   spaces  here ", "extra spaces here"),
]

QUOTED = [
  ('He said : " No ! "', 'He said: "No!"'),
  ('" Come in , " she said .', '"Come in," she said.'),
  ('a " fair " price', 'a "fair" price'),  # an even count with no clue pairs up in order
  ("the word ' rules ' was", "the word 'rules' was"),
  ('we are lost . " " Nonsense', 'we are lost." "Nonsense'),  # equal quotes: close, then open
  ("a good start . ' \" Then", "a good start.'\" Then"),  # nested quotes close together
  ('stop it . " Yes , " he said at last . " I', 'stop it. "Yes," he said at last. "I'),
  ('the song " Blue Moon " .', 'the song "Blue Moon".'),
  ("( ' maybe ' )", "('maybe')"),
  ("' Hello there", "'Hello there"),  # a line-initial quote opens
  ("and then left . '", "and then left.'"),  # a line-final quote closes
  ('cold and " wet', 'cold and " wet'),  # one end of a quote spanning lines: not determinable
  ('"', '"'),
]


@pytest.mark.parametrize("iam,natural", NATURAL + QUOTED)
def test_natural_text(iam, natural):
  assert natural_text(iam) == natural


def test_quote_roles_leave_undeterminable_quotes_out():
  assert quote_roles(["a", '"', "b", '"', "c"]) == {1: "open", 3: "close"}
  assert quote_roles(["a", '"', "b"]) == {}
  assert quote_roles(["x", ",", '"', "said", "he"]) == {2: "close"}


@pytest.mark.parametrize("a,b", [
  ("Brentano ,", "Brentano,"),
  ("  it is   here . ", "it is here."),
  ("( 1,000 )", "(1,000)"),
  ('said " No "', 'said "No"'),
  ("Nobody 's", "Nobody's"),
  ("do n't", "don't"),
  ("\u201cYes,\u201d it\u2019s", '"Yes," it\'s'),  # typographic quotes count as straight
])
def test_comparison_form_ignores_punctuation_spacing(a, b):
  assert comparison_form(a) == comparison_form(b)


def test_comparison_form_keeps_real_differences():
  assert comparison_form(" a  b\t. ") == "a b."
  assert comparison_form("well-known") != comparison_form("well - known")  # hyphen vs dash
  assert comparison_form("in to") != comparison_form("into")
  assert comparison_form("a.b") == "a.b"  # no space is added


# A self-made lines.txt (ids and texts invented) in IAM's row format, and the natural texts.
LINES_TXT = [
  ("x01-001-00 ok 170 12 300 800 1700 110 The|ship|,|which|was|late|,|docked|.",
   "The ship, which was late, docked."),
  ("x01-001-01 ok 170 9 300 900 1700 110 \"|Here|'s|the|list|,|\"|said|Ann|.",
   "\"Here's the list,\" said Ann."),
  ("x01-001-02 err 170 9 300 1000 1700 110 It|cost|(|roughly|)|2,000|dollars|;|no|more|?",
   "It cost (roughly) 2,000 dollars; no more?"),
  ("x01-001-03 ok 170 7 300 1100 1700 110 they|'re|# |in|M Ps|'|Lobby|'|-|fine|!",
   "they're # in M Ps 'Lobby' - fine!"),
  ("x01-001-04 ok 170 5 300 1200 1700 110 Mr.|Pike|ca|n't|wait|...|\"",
   "Mr. Pike can't wait...\""),
]


def test_every_fixture_row_converts(tmp_path):
  path = tmp_path / "lines.txt"
  path.write_text("# lines.txt format\n" + "".join(row + "\n" for row, _ in LINES_TXT))
  records, report = iam_lines.parse_lines_txt(path)
  assert len(report) == 0
  assert [natural_text(r.text) for r in records] == [want for _, want in LINES_TXT]
  # Error rates on natural text equal those on IAM's tokens: the forms compare equal.
  assert all(comparison_form(natural_text(r.text)) == comparison_form(r.text) for r in records)
