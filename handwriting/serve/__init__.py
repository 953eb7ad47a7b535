"""The local web page (`handwriting serve`): app.py (server and JSON API), ink.py (drawings to
pen points), static/ (the page itself)."""
