"""What every command module of the CLI shares: exit codes, defaults, the help formatter and
the sub-command helper, the skipped-input exit, the decoding options of read and evaluate."""

from __future__ import annotations

import argparse
import sys

EXIT_OK, EXIT_SKIPPED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULT_BIAS = 1.0  # = api/writer.py DEFAULT_BIAS (kept here so --help needs no JAX import)
DEFAULT_WIDTH = 40
DEFAULT_RETRIES = 4  # = api/writer.py DEFAULT_RETRIES


class Help(argparse.ArgumentDefaultsHelpFormatter):
  """Every option's default shown in --help (unset options and off switches say nothing)."""

  def _get_help_string(self, action: argparse.Action) -> str:
    if action.default is None or action.default is False or "(default" in (action.help or ""):
      return action.help or ""
    return super()._get_help_string(action)


def add_command(sub: argparse._SubParsersAction, name: str, help: str, **kwargs
            ) -> argparse.ArgumentParser:
  return sub.add_parser(name, help=help, description=help, formatter_class=Help, **kwargs)



def skipped_exit(skipped: int, what: str) -> int:
  """EXIT_SKIPPED (with a line saying so on stderr) when anything was skipped."""
  if skipped:
    print(f"warning: {skipped} {what}{'s' if skipped != 1 else ''} skipped (named above): "
          f"exit code {EXIT_SKIPPED}", file=sys.stderr)
    return EXIT_SKIPPED
  return EXIT_OK



def add_decoder_args(p: argparse.ArgumentParser) -> None:
  g = p.add_argument_group("decoding")
  g.add_argument("--beam", type=int, default=1, help="beam width (1 = greedy)")
  g.add_argument("--lm", help="character LM: a .json saved model, a text file of "
                              "transcriptions (one per line, e.g. what `prepare texts` writes) "
                              "or a prepared folder (its train split) to train a 4-gram on")
  g.add_argument("--lm-weight", type=float, default=0.5, help="weight of the LM's log-prob")
  g.add_argument("--insertion-bonus", type=float, default=0.0,
                 help="added per emitted character (balances the LM's shortening)")


def decoding(args: argparse.Namespace) -> dict:
  return {"beam": args.beam, "lm": args.lm, "lm_weight": args.lm_weight,
          "insertion_bonus": args.insertion_bonus}


def add_norm_arg(p: argparse.ArgumentParser) -> None:
  p.add_argument("--norm", choices=["scan", "legacy"],
                 help="image normalisation (default: the one the reader was trained with)")
