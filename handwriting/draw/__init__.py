"""Figures: line strokes and images (plots.py), the `show` command (show.py)."""
