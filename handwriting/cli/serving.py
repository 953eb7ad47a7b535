"""`handwriting serve`: the local web page."""

from __future__ import annotations

import argparse

from handwriting.cli._common import add_command


def add_serve(sub: argparse._SubParsersAction) -> None:
  p = add_command(sub, "serve", "a local web page: write text, read drawings and scans, write in "
                                "your own hand (needs: pip install '.[serve]')")
  p.add_argument("--host", default="127.0.0.1",
                 help="address to bind (the default answers this machine only)")
  p.add_argument("--port", type=int, default=8000, help="port to listen on")
  p.add_argument("--synthesis", help="synthesis workdir or shipped name (default: shipped)")
  p.add_argument("--online-reader", help="reader of drawings (default: the shipped reader of "
                                         "the synthesis model's data)")
  p.add_argument("--reader", help="reader of scans (default: the shipped offline reader)")
  p.add_argument("--lm", help="character LM for the page's 'language model' option (as --lm "
                              "of read)")


def serve(args: argparse.Namespace) -> None:
  try:
    from handwriting.serve.app import serve
  except ImportError as e:
    from handwriting.data.report import DataError
    raise DataError("serve", f"the web page needs its extra: pip install '.[serve]' ({e})") \
        from None
  print(f"serving on http://{args.host}:{args.port}/ (Ctrl-C stops)", flush=True)
  serve(args.host, args.port, synthesis=args.synthesis, online_reader=args.online_reader,
        offline_reader=args.reader, lm=args.lm)
