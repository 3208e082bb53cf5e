"""``python -m cnn_demo gallery list|hide|unhide``: the teacher's view of the class gallery from the command line."""

from __future__ import annotations

import argparse
import json
import time


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _cmd_list(args: argparse.Namespace) -> int:
    """Every published run as a leaderboard (held-out test accuracy first), hidden ones too, marked."""
    from cnn_demo.jobs import gallery

    entries = gallery.published(include_hidden=True)
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=1))
        return 0
    if not entries:
        print("The class gallery is empty.")
        return 0
    for rank, e in enumerate(entries, 1):
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.published))
        acc = e.accuracies
        print(
            f"{rank:3d}. {e.job_id}  {e.name!r}  test {_pct(acc.get('test_accuracy'))} "
            f"(baseline {_pct(acc.get('baseline_test_accuracy'))}), val {_pct(acc.get('best_val_accuracy'))}  "
            f"{e.config.get('backbone', '?')} {e.config.get('strategy', '')}  {when}"
            + ("  [hidden]" if e.hidden else "")
        )
    return 0


def _cmd_hide(args: argparse.Namespace) -> int:
    """Hide one entry from the class gallery (``unhide`` shows it again)."""
    from cnn_demo.jobs import gallery

    gallery.hide(args.id, hidden=args.command == "hide")
    print(f"{args.id} {'hidden from' if args.command == 'hide' else 'shown again in'} the class gallery.")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``gallery list`` and ``gallery hide|unhide ID``."""
    p = sub.add_parser(
        "gallery",
        help="the class gallery: list published runs, hide one (the teacher)",
        description="Runs students published read-only to the class gallery, ranked by held-out test accuracy.",
    )
    gsub = p.add_subparsers(dest="command", required=True)
    ls = gsub.add_parser("list", help="every published run, best held-out accuracy first (hidden ones marked)")
    ls.add_argument("--json", action="store_true", help="the entries as JSON (no owners, no codes)")
    ls.set_defaults(func=_cmd_list)
    for name, text in (("hide", "hide a run from the gallery"), ("unhide", "show a hidden run again")):
        h = gsub.add_parser(name, help=text)
        h.add_argument("id", metavar="ID", help="the job id of the published run (see gallery list)")
        h.set_defaults(func=_cmd_hide)
