"""deid-node: serve | deid | quarantine ... | failed ... | check-config | train ...

Flags override the config file, in the spirit of dcmtk's tools. Errors say what was
wrong and what to do, and exit non-zero.
"""
from __future__ import annotations

import argparse
import getpass
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from . import __version__, audit
from .config import ConfigError
from .settings import Settings
from .sitekey import SiteKeyError, load_or_create


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="config file (default: conf/deid-node.yaml)")
    p.add_argument("--var", type=Path, help="folder for spool, quarantine, logs and site key")


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    return Settings.load(args.config, var=args.var, **overrides)


def _actor(args: argparse.Namespace) -> str:
    return getattr(args, "actor", None) or os.environ.get("SUDO_USER") or getpass.getuser()


# -- serve -------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    from .node.service import Node
    settings = _settings(args, port=args.port, ae_title=args.ae_title, forward=args.forward,
                         bind=args.bind)
    node = Node(settings)
    print(f"deid-node {__version__}: {settings.node.ae_title} on {settings.node.bind}:"
          f"{settings.node.port}, forwarding to {node.forwarder.name}, "
          f"{settings.node.workers} worker(s), var {settings.var}", file=sys.stderr, flush=True)
    from .review.server import start_in_background
    start_in_background(settings, node.key)  # only when the config enables the review console
    node.serve_forever()
    return 0


# -- batch ---------------------------------------------------------------------------
def _inputs(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(q for q in p.rglob("*") if q.is_file()))
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return files


class Progress:
    """One self-rewriting line on a terminal, a line every 10% otherwise."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.n, self.t0 = total, label, 0, time.monotonic()
        self.tty = sys.stderr.isatty()
        self._last_decile = -1

    def step(self, note: str = "") -> None:
        self.n += 1
        rate = self.n / max(time.monotonic() - self.t0, 1e-6)
        line = f"{self.label}: {self.n}/{self.total} ({rate:.1f}/s) {note}"
        if self.tty:
            print("\r" + line[:100].ljust(100), end="", file=sys.stderr, flush=True)
        elif self.n * 10 // max(self.total, 1) != self._last_decile or self.n == self.total:
            self._last_decile = self.n * 10 // max(self.total, 1)
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def cmd_deid(args: argparse.Namespace) -> int:
    import pydicom
    from .node.spool import durable_write
    from .pipeline import Pipeline
    from .quarantine import Quarantine

    settings = _settings(args)
    key = load_or_create(settings.key_file)
    audit.configure(settings.audit.file, key=key, stderr=False, component="batch")
    out = args.out.resolve()
    qdir = (args.quarantine or (out.parent / (out.name + "-quarantine"))).resolve()
    files = _inputs(args.inputs)
    pipeline = Pipeline(settings, key)
    quarantine = None
    written = quarantined = unreadable = 0
    progress = Progress(len(files), "deid")
    for path in files:
        raw = path.read_bytes()
        try:
            pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=True)
        except Exception as exc:
            unreadable += 1
            progress.step()
            print(f"\n{path}: not readable as DICOM ({type(exc).__name__}: {exc}); skipped",
                  file=sys.stderr)
            continue
        verdict = pipeline.run(raw, timeout=args.timeout)
        if verdict.action == "forward":
            u = verdict.uids
            target = out / str(u["study_uid"]) / str(u["series_uid"])
            target.mkdir(parents=True, exist_ok=True)
            assert verdict.data is not None
            durable_write(target, f"{u['sop_uid']}.dcm", verdict.data, mode=0o644)
            audit.event("processed", source="batch", **verdict.summary)
            written += 1
        else:
            quarantine = quarantine or Quarantine(qdir)
            quarantine.add(verdict.entry_id, original=raw, candidate=verdict.data, report=verdict.report,
                           stage=verdict.stage, reason=verdict.reason or "unknown", meta=verdict.meta)
            audit.event("quarantined", source="batch", **verdict.summary)
            quarantined += 1
        progress.step(verdict.reason or "")
    progress.close()
    print(f"{len(files)} input(s): {written} written to {out}, {quarantined} quarantined"
          f"{' in ' + str(qdir) if quarantined else ''}, {unreadable} not DICOM", file=sys.stderr)
    return 1 if unreadable else 0


# -- quarantine ----------------------------------------------------------------------
def _quarantine(settings: Settings):
    from .quarantine import Quarantine
    return Quarantine(settings.var / "quarantine")


def _admin_setup(args: argparse.Namespace) -> tuple[Settings, bytes]:
    settings = _settings(args)
    key = load_or_create(settings.key_file)
    audit.configure(settings.audit.file, key=key, stderr=False, component="admin")
    return settings, key


def cmd_q_list(args: argparse.Namespace) -> int:
    settings, _ = _admin_setup(args)
    q = _quarantine(settings)
    entries = q.list(None if args.all else "held")
    if args.json:
        print(json.dumps([e.as_dict() for e in entries], indent=2))
        return 0
    if not entries:
        print("quarantine is empty" if args.all else "nothing held in quarantine")
    else:
        print(f"{'ID':16}  {'STATE':11}  {'RECEIVED':19}  {'MOD':4}  {'STAGE':10}  {'UNC':>5}  REASON")
        for e in entries:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.created_at))
            unc = f"{e.uncertainty:.2f}" if e.uncertainty is not None else "-"
            print(f"{e.id:16}  {e.state:11}  {when:19}  {(e.modality or '-'):4}  {e.stage:10}  "
                  f"{unc:>5}  {e.reason}")
    failed = _spool(settings).failed_items()
    if failed:
        print(f"\n{len(failed)} failed deliveries (refused by the destination): "
              "see 'deid-node failed list'")
    return 0


def cmd_q_show(args: argparse.Namespace) -> int:
    settings, _ = _admin_setup(args)
    q = _quarantine(settings)
    entry = q.get(args.id)
    report = q.report(args.id)
    if not args.reveal:
        report = _without_phi(report)
    print(json.dumps({"entry": entry.as_dict(), "report": report}, indent=2, default=str,
                     ensure_ascii=False))
    audit.event("quarantine_viewed", qid=args.id, actor=_actor(args), revealed=bool(args.reveal))
    if args.png:
        import pydicom
        from .pixels.render import render_png
        ds = pydicom.dcmread(io.BytesIO(q.candidate(args.id)))
        boxes = (report.get("pixels") or {}).get("boxes") or []
        render_png(ds, boxes, args.png)
        print(f"wrote {args.png}", file=sys.stderr)
    return 0


_PHI_REPORT_KEYS = {"box_texts", "message", "traceback", "texts"}


def _without_phi(obj: Any) -> Any:
    """Report minus the parts that may hold PHI (OCR text, error details)."""
    if isinstance(obj, dict):
        return {k: ("<hidden: use --reveal>" if k in _PHI_REPORT_KEYS else _without_phi(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_without_phi(v) for v in obj]
    return obj


def cmd_q_release(args: argparse.Namespace) -> int:
    import pydicom
    settings, _ = _admin_setup(args)
    q = _quarantine(settings)
    entry = q.held(args.id)
    if entry.reason == "leak-check" and not args.force:
        print(f"entry {args.id} failed the leak check: its candidate still holds one of the "
              "instance's own identifiers. Inspect it ('show'), then 'reprocess' after fixing "
              "the rules, or pass --force if you are sure it is safe.", file=sys.stderr)
        return 2
    data = q.candidate(args.id)
    sop = str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True,
                              specific_tags=["SOPInstanceUID"]).SOPInstanceUID)
    _spool(settings).put_outbox(sop, data)
    q.decide(args.id, "released", actor=_actor(args), note=args.note)
    audit.event("released", qid=args.id, actor=_actor(args), new_sop_uid=sop, reason=entry.reason)
    print(f"released {args.id}: queued for delivery as {sop} (the running node forwards it)")
    return 0


def cmd_q_reprocess(args: argparse.Namespace) -> int:
    from .node.worker import file_verdict
    from .pipeline import Pipeline
    settings, key = _admin_setup(args)
    q = _quarantine(settings)
    q.held(args.id)
    raw = q.original(args.id)
    verdict = Pipeline(settings, key).run(raw)
    if verdict.action == "forward":
        file_verdict(verdict, raw, _spool(settings), q, source="reprocess")
        q.decide(args.id, "reprocessed", actor=_actor(args))
        audit.event("reprocessed", qid=args.id, actor=_actor(args), outcome="forward",
                    new_sop_uid=verdict.uids.get("sop_uid"))
        print(f"reprocessed {args.id}: passed every stage, queued for delivery")
    else:
        file_verdict(verdict, raw, _spool(settings), q, source="reprocess")
        audit.event("reprocessed", qid=args.id, actor=_actor(args), outcome="quarantine",
                    reason=verdict.reason)
        print(f"reprocessed {args.id}: still held ({verdict.stage}: {verdict.reason})")
    return 0


def cmd_q_reject(args: argparse.Namespace) -> int:
    settings, _ = _admin_setup(args)
    q = _quarantine(settings)
    q.decide(args.id, "rejected", actor=_actor(args), note=args.reason)
    audit.event("rejected", qid=args.id, actor=_actor(args), note_len=len(args.reason))
    print(f"rejected {args.id}; its PHI copies were deleted")
    return 0


# -- failed deliveries -------------------------------------------------------------------
def _spool(settings: Settings):
    from .node.spool import Spool
    return Spool(settings.var, quota=settings.receiver.spool_quota, min_free=settings.receiver.min_free_disk)


def cmd_failed_list(args: argparse.Namespace) -> int:
    settings, _ = _admin_setup(args)
    items = _spool(settings).failed_items()
    if args.json:
        print(json.dumps([{"sop_uid": p.stem, **info} for p, info in items], indent=2))
    elif not items:
        print("no failed deliveries")
    for p, info in ([] if args.json else items):
        print(f"{p.stem}  status={info.get('status')}  {info.get('reason')}")
    return 0


def cmd_failed_retry(args: argparse.Namespace) -> int:
    settings, _ = _admin_setup(args)
    _spool(settings).retry_failed(args.sop_uid)
    audit.event("delivery_retried", new_sop_uid=args.sop_uid, actor=_actor(args))
    print(f"{args.sop_uid} is back in the outbox")
    return 0


# -- review console -------------------------------------------------------------------------
def cmd_review(args: argparse.Namespace) -> int:
    from .review.cli import serve
    return serve(_settings(args), args.bind, args.port)


def cmd_review_add_user(args: argparse.Namespace) -> int:
    from .review.cli import add_user
    return add_user(_settings(args), args.name, args.generate, _actor(args))


def cmd_q_export_corrections(args: argparse.Namespace) -> int:
    from .review.cli import export_corrections
    return export_corrections(_settings(args), args.out, args.images, _actor(args))


# -- check-config -----------------------------------------------------------------------
def cmd_check_config(args: argparse.Namespace) -> int:
    from .node.service import preflight
    settings = _settings(args)
    key = load_or_create(settings.key_file)
    weights = preflight(settings, key)
    print(f"weights verified against weights/MANIFEST.json: {', '.join(weights) or 'none'}")
    print(f"{settings.source}: OK ({settings.node.ae_title} on {settings.node.bind}:{settings.node.port}, "
          f"destination {settings.destination.type}, var {settings.var})")
    return 0


# -- train ---------------------------------------------------------------------------------
TRAINERS = (("ner", "deid_node.train.ner"), ("detector", "deid_node.train.detector"),
            ("recogniser", "deid_node.train.recogniser"), ("script", "deid_node.train.script"))


def cmd_train(args: argparse.Namespace) -> int:
    """Build the trainers' parsers only now: importing them loads spaCy and torch."""
    from importlib import import_module
    parser = argparse.ArgumentParser(prog="deid-node train",
                                     description="train the models shipped in weights/")
    tsub = parser.add_subparsers(dest="model", required=True)
    for name, module in TRAINERS:
        mod = import_module(module)
        doc = (mod.__doc__ or "").strip().splitlines()
        p = tsub.add_parser(name, help=doc[0] if doc else None)
        mod.add_arguments(p)
        p.set_defaults(func=mod.run)
    targs = parser.parse_args(args.rest)
    return int(targs.func(targs) or 0)


def _add_train(sub: Any) -> None:
    train = sub.add_parser("train", add_help=False,
                           help=f"train the models shipped in weights/ ({', '.join(n for n, _ in TRAINERS)})")
    train.add_argument("rest", nargs=argparse.REMAINDER)
    train.set_defaults(func=cmd_train)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deid-node", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"deid-node {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the node (Storage SCP → de-identify → forward)")
    _common(p)
    p.add_argument("--port", type=int, help="listening port")
    p.add_argument("--bind", help="listening address")
    p.add_argument("--ae-title", help="the node's AE title")
    p.add_argument("--forward", metavar="AET@HOST:PORT|FOLDER", help="destination")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("deid", help="de-identify files or folders through the same pipeline")
    _common(p)
    p.add_argument("inputs", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--quarantine", type=Path, help="quarantine folder (default: OUT-quarantine)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per instance")
    p.set_defaults(func=cmd_deid)

    q = sub.add_parser("quarantine", help="review quarantined instances")
    qsub = q.add_subparsers(dest="action", required=True)
    p = qsub.add_parser("list", help="held instances")
    _common(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--all", action="store_true", help="include released, rejected, reprocessed")
    p.set_defaults(func=cmd_q_list)
    p = qsub.add_parser("show", help="one entry and its report")
    _common(p)
    p.add_argument("id")
    p.add_argument("--png", type=Path, help="write the candidate with its boxes drawn")
    p.add_argument("--reveal", action="store_true", help="include OCR text and error details (PHI; audited)")
    p.set_defaults(func=cmd_q_show)
    p = qsub.add_parser("release", help="forward the de-identified candidate")
    _common(p)
    p.add_argument("id")
    p.add_argument("--note")
    p.add_argument("--force", action="store_true", help="release even after a leak-check hit")
    p.set_defaults(func=cmd_q_release)
    p = qsub.add_parser("reprocess", help="run the current pipeline on the original again")
    _common(p)
    p.add_argument("id")
    p.set_defaults(func=cmd_q_reprocess)
    p = qsub.add_parser("reject", help="drop the instance (its PHI copies are deleted)")
    _common(p)
    p.add_argument("id")
    p.add_argument("--reason", required=True)
    p.set_defaults(func=cmd_q_reject)
    p = qsub.add_parser("export-corrections", help="box corrections from the review console as "
                        "labelled data for retraining the detector")
    _common(p)
    p.add_argument("--out", type=Path, required=True, help="folder for corrections.jsonl")
    p.add_argument("--images", action="store_true", help="also write the original frames as PNG (PHI)")
    p.set_defaults(func=cmd_q_export_corrections)
    for p in qsub.choices.values():
        p.add_argument("--actor", help="admin name for the audit log (default: login name)")

    p = sub.add_parser("review", help="serve the quarantine review console (web)")
    _common(p)
    p.add_argument("--bind", help="listening address (default: review.bind, 127.0.0.1)")
    p.add_argument("--port", type=int, help="listening port (default: review.port, 8104)")
    p.set_defaults(func=cmd_review)
    rsub = p.add_subparsers(dest="review_action")
    p = rsub.add_parser("add-user", help="add or reset a console admin (password from stdin/prompt)")
    _common(p)
    p.add_argument("name")
    p.add_argument("--generate", action="store_true", help="issue a random token instead of a password")
    p.add_argument("--actor", help="admin name for the audit log (default: login name)")
    p.set_defaults(func=cmd_review_add_user)

    f = sub.add_parser("failed", help="deliveries the destination refused for good")
    fsub = f.add_subparsers(dest="action", required=True)
    p = fsub.add_parser("list")
    _common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_failed_list)
    p = fsub.add_parser("retry", help="put a failed delivery back into the outbox")
    _common(p)
    p.add_argument("sop_uid")
    p.add_argument("--actor")
    p.set_defaults(func=cmd_failed_retry)

    p = sub.add_parser("check-config", help="validate the config, rules and weights")
    _common(p)
    p.set_defaults(func=cmd_check_config)
    _add_train(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:  # its own parser, so that `train --help` lists the trainers
        args = argparse.Namespace(func=cmd_train, rest=argv[1:])
    else:
        args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, SiteKeyError, FileNotFoundError) as exc:
        print(f"deid-node: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from .quarantine import QuarantineError
        from .weights import WeightsError
        if isinstance(exc, (QuarantineError, WeightsError)):
            print(f"deid-node: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
