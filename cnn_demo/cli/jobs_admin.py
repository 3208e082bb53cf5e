"""``python -m cnn_demo jobs list|show|cancel|purge`` and ``teacher-password``: the teacher's page on the command line.

Every job on the server, whoever's it is (the operator runs these on the server, as the account that owns the
state folder): list them, show one by the reference a student was shown, cancel one, purge old ones or everything
(the class reset). ``teacher-password`` sets the password that opens the Teacher page without sign-in.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "-"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _cmd_list(args: argparse.Namespace) -> int:
    """Every job, newest first: a table, or one JSON array with ``--json``."""
    from cnn_demo.jobs import admin

    rows = admin.list_all()
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], ensure_ascii=False, indent=1))
        return 0
    if not rows:
        print("No jobs.")
        return 0
    print(f"{'job':24s} {'student':20s} {'kind':18s} {'state':11s} {'created':16s} {'disk':>9s}  result / queue")
    for r in rows:
        student = r.student or (f"({r.owner_tag})" if r.owner_tag else "?")
        note = r.queue_wait or r.score or (f"ref {r.reference}" if r.reference else "")
        print(
            f"{r.job_id:24s} {student[:20]:20s} {r.kind[:18]:18s} {r.state:11s} {_when(r.created):16s} "
            f"{_mb(r.disk_bytes):>9s}  {note}"
        )
    print(f"{len(rows)} job(s)")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    """The jobs a reference names (crash reference, job id or its start), with log and traceback."""
    from cnn_demo.jobs import admin

    rows = admin.find_by_reference(args.ref)
    if not rows:
        hint = "a crash reference, a job id or its first 6 characters"
        print(f"error: no job matches {args.ref!r} ({hint})", file=sys.stderr)
        return 1
    for r in rows:
        d = admin.job_details(r.job_id)
        if args.json:
            print(json.dumps(d, ensure_ascii=False))
            continue
        print(f"job       {d['job_id']}")
        for key in ("student", "owner_tag", "kind", "state", "queue_wait", "score", "reference", "error"):
            if d.get(key):
                print(f"{key:9s} {d[key]}")
        print(f"created   {_when(d['created'])}   started {_when(d['started'])}   finished {_when(d['finished'])}")
        print(f"disk      {_mb(d['disk_bytes'])}")
        print(f"params    {json.dumps(d['params'], ensure_ascii=False)[:2000]}")
        if d["log"]:
            print("log (last lines):")
            print("\n".join("  " + line for line in d["log"]))
        if d["crash"]:
            print("traceback:")
            print(d["crash"])
        print()
    return 0


def _cmd_cancel(args: argparse.Namespace) -> int:
    """Cancel one job by its id, whoever's it is."""
    from cnn_demo.jobs import admin

    state = admin.cancel_any(args.id)
    print(f"{args.id}: {state}" + (" (stops at its next progress report)" if state == "running" else ""))
    return 0


def _cmd_purge(args: argparse.Namespace) -> int:
    """Delete old finished jobs and uploads, or (``--all``) everything: the reset between classes."""
    from cnn_demo.jobs import admin

    if args.all and args.older_than is not None:
        print("error: give --all or --older-than, not both", file=sys.stderr)
        return 2
    report = admin.purge(older_than_hours=args.older_than, everything=args.all)
    print(f"removed {len(report.jobs)} job(s) and {report.uploads} stored upload(s); freed {_mb(report.bytes_freed)}")
    return 0


def _cmd_teacher_password(args: argparse.Namespace) -> int:
    """Set (or remove) the teacher password; the server keeps its scrypt hash only."""
    import getpass

    from cnn_demo.jobs import teachers
    from cnn_demo.settings import get_settings

    s = get_settings()
    if args.remove:
        gone = teachers.remove_password(s)
        print("teacher password removed" if gone else "no teacher password was stored")
        return 0
    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("New teacher password: ")
        if getpass.getpass("Once more: ") != password:
            print("error: the two passwords differ", file=sys.stderr)
            return 2
    if args.print:
        print(teachers.hash_password(password))
        return 0
    path = teachers.set_password(s, password)
    print(f"teacher password set (its hash is in {path}, readable by this account only)")
    if s.teacher_password_hash:
        print("note: CNN_DEMO_TEACHER_PASSWORD_HASH is set and wins over the stored hash", file=sys.stderr)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``jobs`` (list, show, cancel, purge) and ``teacher-password``."""
    p = sub.add_parser("jobs", help="every job on the server: list, show, cancel, purge (the teacher's view)")
    verbs = p.add_subparsers(dest="jobs_command", required=True)
    v = verbs.add_parser("list", help="every job, newest first")
    v.add_argument("--json", action="store_true", help="one JSON array of jobs")
    v.set_defaults(func=_cmd_list)
    v = verbs.add_parser("show", help="the job(s) a reference names: crash reference, job id or its first 6 characters")
    v.add_argument("ref", metavar="REF")
    v.add_argument("--json", action="store_true", help="one JSON object per job and line")
    v.set_defaults(func=_cmd_show)
    v = verbs.add_parser("cancel", help="cancel a job, whoever's it is")
    v.add_argument("id", metavar="ID")
    v.set_defaults(func=_cmd_cancel)
    v = verbs.add_parser(
        "purge", help="delete finished jobs past the retention (CNN_DEMO_ARTIFACT_HOURS), older ones, or everything"
    )
    v.add_argument("--older-than", type=float, default=None, metavar="HOURS", help="finished jobs and uploads older")
    v.add_argument("--all", action="store_true", help="every job (running ones stopped) and stored upload: a reset")
    v.set_defaults(func=_cmd_purge)

    p = sub.add_parser("teacher-password", help="set the password that opens the Teacher page (without sign-in)")
    p.add_argument("--stdin", action="store_true", help="read the password from the first line of standard input")
    p.add_argument("--print", action="store_true", help="print the hash (for CNN_DEMO_TEACHER_PASSWORD_HASH) only")
    p.add_argument("--remove", action="store_true", help="remove the stored password")
    p.set_defaults(func=_cmd_teacher_password)
