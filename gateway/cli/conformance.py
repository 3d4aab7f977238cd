"""``gateway conformance ...`` and ``gateway reference-peer``: the conformance kit on the command line.

``node`` plays both e-Sarabans against an agency interface (the A-cases), ``peer`` checks a
node port (B-cases), ``client`` tests an e-Saraban client (C-cases), ``verify`` checks a signed
JSON report. Every plan writes the same reports: a progress line per case, then optionally JUnit
XML, one standalone HTML file and a JSON result signed with the operator's key.
Exit status: 0 when every case that ran passed, 1 otherwise, 2 for a usage error.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway import __version__
from gateway.adapters.clock import SystemClock
from gateway.conformance import node_edges, node_plan, plan, reports  # noqa: F401 - node_edges registers cases
from gateway.conformance.agent import Agent
from gateway.core.errors import ConfigError
from gateway.core.time import wire_time


def add_report_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--only", action="append", default=[], metavar="IDS",
                   help="run only these cases (IDs or patterns, comma-separated: A1,A2*)")
    p.add_argument("--skip", action="append", default=[], metavar="IDS", help="leave these cases out")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML")
    p.add_argument("--html", metavar="FILE", help="write one standalone HTML report (Thai and English)")
    p.add_argument("--json", metavar="FILE", help="write the result as JSON signed with --sign-key/--sign-cert")
    p.add_argument("--sign-key", metavar="PEM", help="the operator's private key that signs the JSON result")
    p.add_argument("--sign-cert", metavar="PEM", help="its certificate (embedded in the JSON result)")
    p.add_argument("--list", action="store_true", help="list the plan's cases and exit")


def register(sub: argparse._SubParsersAction) -> None:
    conformance = sub.add_parser("conformance", help="numbered conformance plans for nodes and e-Saraban clients")
    plans = conformance.add_subparsers(dest="conformance_command", required=True)

    node = plans.add_parser("node", help="the agency-interface plan (A-cases) against any node",
                            description="Plays the sending and the receiving e-Saraban against an agency-interface "
                                        "endpoint. Use test organisations: the kit pulls their queues.")
    node.add_argument("--endpoint", required=True, help="the sender organisation's agency endpoint URL")
    node.add_argument("--sender", required=True, metavar="ORG", help="OrganizationID of the sending test organisation")
    node.add_argument("--receiver", required=True, metavar="ORG", help="OrganizationID of the receiving one")
    node.add_argument("--receiver-endpoint", metavar="URL",
                      help="the receiver's endpoint (default: --endpoint with /<sender> replaced by /<receiver>)")
    node.add_argument("--visibility-timeout", type=float, metavar="SECONDS",
                      help="the node's visibility timeout, as configured; A19 waits it out (not checkable if absent)")
    node.add_argument("--max-wait", type=float, default=60.0, metavar="SECONDS",
                      help="the longest one case may wait (default 60)")
    node.add_argument("--delivery-wait", type=float, default=0.0, metavar="SECONDS",
                      help="how long a letter or notifier may take to reach the other organisation, when the two are "
                           "hosted on different nodes (default 0: the same node)")
    node.add_argument("--large-mb", type=float, default=5.0, metavar="MB", help="size of A20's enclosure (default 5)")
    node.add_argument("--signer-key", metavar="PEM", help="the sender organisation's key, for A21's signed letter")
    node.add_argument("--signer-cert", metavar="PEM", help="its certificate")
    node.add_argument("--user", help="HTTP Basic user, when the node asks for credentials (default: the OrganizationID)")
    node.add_argument("--password", help="HTTP Basic password of both test organisations' endpoints")
    node.add_argument("--ca", help="CA file to verify the node's HTTPS certificate")
    node.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one answer (default 120)")
    add_report_options(node)
    node.set_defaults(func=cmd_node)

    peer = plans.add_parser("peer", help="the node-port plan (B-cases) against another node",
                            description="Plays a node of the peer's directory: delivers signed node messages to its "
                                        "node port and checks receipts, duplicates, refusals and timestamps.")
    peer.add_argument("--endpoint", "--url", dest="url", required=True, help="the peer's node port (.../ecms-ws01/node)")
    peer.add_argument("--peer-node", required=True, help="the peer's node id")
    peer.add_argument("--peer-cert", required=True, metavar="PEM", help="the peer's node certificate; receipts must verify")
    peer.add_argument("--node-id", required=True, help="the kit's node id, as listed in the peer's [[nodes]]")
    peer.add_argument("--key", required=True, metavar="PEM", help="the kit's node key")
    peer.add_argument("--cert", required=True, metavar="PEM", help="the kit's node certificate")
    peer.add_argument("--receiver", required=True, metavar="ORG", help="an organisation the peer hosts")
    peer.add_argument("--sender", required=True, metavar="ORG", help="an organisation the peer routes to the kit's node")
    peer.add_argument("--org-key", metavar="PEM", help="the sender organisation's key, to sign letters end to end")
    peer.add_argument("--org-cert", metavar="PEM", help="its certificate")
    peer.add_argument("--receiver-endpoint", metavar="URL",
                      help="the receiving organisation's agency endpoint at the peer (B3-B5 need it)")
    peer.add_argument("--receiver-user", help="HTTP Basic user for that endpoint")
    peer.add_argument("--receiver-password", help="its password")
    peer.add_argument("--ca", help="CA file to verify the peer's HTTPS certificate")
    peer.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one answer (default 60)")
    add_report_options(peer)
    peer.set_defaults(func=cmd_peer)

    client = plans.add_parser("client", help="test an e-Saraban client: a reference node records what it sends (C-cases)",
                              description="Starts a reference node that records every request, prints the steps "
                                          "to perform in your e-Saraban product, then checks what it sent and in "
                                          "which order against the standard.")
    client.add_argument("--data-dir", required=True, help="a new, empty folder for the reference node's data")
    client.add_argument("--host", default="127.0.0.1", help="address the reference node listens on (default 127.0.0.1)")
    client.add_argument("--port", type=int, default=8090, help="its port (default 8090; 0 picks a free one)")
    client.add_argument("--org", default="2000350000", metavar="ORG",
                        help="the organisation your product acts as (default 2000350000)")
    client.add_argument("--kit-org", default="2000100000", metavar="ORG",
                        help="the organisation the kit plays (default 2000100000)")
    client.add_argument("--config", help="a node configuration (TOML) for the reference node, e.g. with credentials "
                                         "and TLS for a product on another machine")
    client.add_argument("--step-timeout", type=float, default=600.0, metavar="SECONDS",
                        help="how long a step may take (default 600)")
    client.add_argument("--interactive", action="store_true",
                        help="wait for Enter after each step (default: go on as soon as the requests arrive)")
    add_report_options(client)
    client.set_defaults(func=cmd_client)

    verify = plans.add_parser("verify", help="check a signed JSON result: its signature, and whether the target passed")
    verify.add_argument("report", metavar="REPORT", help="the JSON file written with --json")
    verify.add_argument("--ca", action="append", default=[], metavar="PEM",
                        help="CA certificate(s) the signer's certificate must be issued by (repeatable)")
    verify.set_defaults(func=cmd_verify)


def register_reference_peer(sub: argparse._SubParsersAction) -> None:
    ref = sub.add_parser("reference-peer", help="a scripted node with known organisations and behaviours, "
                                                "for testing your own node against")
    ref.add_argument("--data-dir", required=True, help="the reference peer's data folder (made if missing)")
    ref.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    ref.add_argument("--port", type=int, default=8099, help="port (default 8099)")
    ref.add_argument("--public-url", default="", help="its base URL as your node reaches it (default http://HOST:PORT)")
    ref.add_argument("--database", default="", help="database URL (default SQLite in the data folder)")
    ref.add_argument("--slow-seconds", type=float, default=20.0, help="delay of the slow organisation (default 20)")
    ref.add_argument("--down-seconds", type=float, default=60.0, help="outage of the down organisation (default 60)")
    ref.add_argument("--vendor-node", help="your node's id")
    ref.add_argument("--vendor-url", help="your node's node port (.../ecms-ws01/node)")
    ref.add_argument("--vendor-cert", metavar="PEM", help="your node's certificate")
    ref.add_argument("--vendor-ca", metavar="PEM", help="the CA that issued your certificates")
    ref.add_argument("--vendor-org", action="append", default=[], metavar="ID[=CERT]",
                     help="an organisation your node hosts, optionally with its certificate (repeatable)")
    ref.set_defaults(func=cmd_reference_peer)


def receiver_endpoint(endpoint: str, sender: str, receiver: str) -> str:
    """The receiver's endpoint: a tenant endpoint ``.../<sender>`` becomes ``.../<receiver>``."""
    trimmed = endpoint.rstrip("/")
    if trimmed.endswith(f"/{sender}"):
        return trimmed[: -len(sender)] + receiver
    return endpoint


def _list(cases: list[plan.Case]) -> int:
    for c in cases:
        print(f"{c.id:<5} {c.section:<22} {c.title_en}\n      {'':<22} {c.title_th}")
    return 0


def finish(report: plan.Report, args: argparse.Namespace) -> int:
    """The summary on the terminal and the report files asked for; the exit status."""
    report.finished = wire_time(SystemClock().now())
    print(reports.summary(report))
    if args.json and not (args.sign_key and args.sign_cert):
        print("gateway: --json needs --sign-key and --sign-cert (the operator's key signs the result)", file=sys.stderr)
        return 2
    try:
        reports.write_reports(report, junit=args.junit, html_path=args.html, json_path=args.json,
                              key_pem=Path(args.sign_key).read_bytes() if args.sign_key else None,
                              cert_pem=Path(args.sign_cert).read_bytes() if args.sign_cert else None)
    except (OSError, ValueError, ConfigError) as exc:   # a key that is not PEM, or not the certificate's
        print(f"gateway: the reports were not written: {exc}", file=sys.stderr)
        return 2
    for label, path in (("JUnit", args.junit), ("HTML", args.html), ("signed JSON", args.json)):
        if path:
            print(f"  {label}: {path}")
    return 0 if report.passed else 1


def play(plan_name: str, ctx: object, target: dict[str, str], args: argparse.Namespace) -> int:
    cases = plan.PLANS[plan_name]
    if args.list:
        return _list(cases)
    try:
        chosen = plan.select(cases, args.only, args.skip)
    except ValueError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    clock = SystemClock()
    report = plan.Report(plan=plan_name, target=target, started=wire_time(clock.now()), kit_version=__version__)
    print(f"conformance plan '{plan_name}' ({len(chosen)} of {len(cases)} cases) against "
          + ", ".join(f"{k} {v}" for k, v in target.items()), flush=True)
    plan.run(report, chosen, ctx, clock=clock, progress=reports.progress(sys.stdout))
    return finish(report, args)


def cmd_node(args: argparse.Namespace) -> int:
    clock = SystemClock()
    other = args.receiver_endpoint or receiver_endpoint(args.endpoint, args.sender, args.receiver)
    verify: bool | str = args.ca or True

    def agent(endpoint: str, org: str) -> Agent:
        auth = ((args.user or org), args.password) if args.password else None
        return Agent(endpoint=endpoint, org=org, clock=clock, timeout=args.timeout, verify=verify, auth=auth)

    signer = None
    if args.signer_key or args.signer_cert:
        if not (args.signer_key and args.signer_cert):
            print("gateway: --signer-key and --signer-cert go together", file=sys.stderr)
            return 2
        from gateway.core.trust import pki, signing
        signer = signing.Signer(org_id=args.sender, key=pki.load_private_key(Path(args.signer_key).read_bytes()),
                                certificate=pki.load_certificate(Path(args.signer_cert).read_bytes()))
    ctx = node_plan.NodeContext(sender=agent(args.endpoint, args.sender), receiver=agent(other, args.receiver),
                                clock=clock, visibility_timeout=args.visibility_timeout, max_wait=args.max_wait,
                                delivery_wait=args.delivery_wait,
                                large_bytes=int(args.large_mb * 1024 * 1024), signer=signer)
    target = {"endpoint": args.endpoint, "sender": args.sender, "receiver-endpoint": other,
              "receiver": args.receiver}
    return play("node", ctx, target, args)


def cmd_verify(args: argparse.Namespace) -> int:
    """0: the signature verifies and every case that ran passed; 1: it does not verify, or the target failed."""
    from gateway.core.trust import pki
    trusted = [cert for path in args.ca for cert in pki.load_certificates(Path(path).read_bytes())] or None
    try:
        verified = reports.verify(Path(args.report).read_bytes(), trusted=trusted, now=SystemClock().now())
    except reports.ReportInvalid as exc:
        print(f"gateway: {args.report} does not verify: {exc}", file=sys.stderr)
        return 1
    report = verified.report
    counts = {}
    for outcome in report.get("outcomes", []):
        counts[outcome["status"]] = counts.get(outcome["status"], 0) + 1
    print(f"{args.report}: signature valid, signed by {verified.signer_subject}")
    print(f"  plan {report.get('plan')} against " + ", ".join(f"{k} {v}" for k, v in report.get("target", {}).items()))
    print(f"  {len(report.get('outcomes', []))} cases: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    print("  the target conforms" if verified.passed else "  the target does NOT conform")
    return 0 if verified.passed else 1


def cmd_client(args: argparse.Namespace) -> int:
    from gateway.conformance import client_plan
    if args.list:
        return _list(plan.PLANS["client"])
    folder = Path(args.data_dir)
    if folder.exists() and any(folder.iterdir()):
        print(f"gateway: {folder} is not empty; give a new folder (a reused database refuses the same letter "
              "number with different content)", file=sys.stderr)
        return 2
    config = None
    if args.config:
        from gateway.cli.env import load_config
        config = load_config(args)

    def enter(step) -> None:
        input("  กด Enter เมื่อทำขั้นตอนนี้แล้ว / press Enter when done: ")

    try:
        report = client_plan.run_client_session(
            data_dir=folder, port=args.port, host=args.host, vendor_org=args.org, kit_org=args.kit_org,
            steps_out=sys.stdout, wait=enter if args.interactive else None, step_timeout=args.step_timeout,
            config=config, only=args.only, skip=args.skip, progress=reports.progress(sys.stdout))
    except ValueError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    return finish(report, args)


def cmd_peer(args: argparse.Namespace) -> int:
    from gateway.conformance import peer_plan
    if args.list:
        return _list(plan.PLANS["peer"])
    auth = (args.receiver_user or args.receiver, args.receiver_password) if args.receiver_password else None
    try:
        ctx = peer_plan.peer_context(
            url=args.url, peer_node=args.peer_node, peer_certificate=args.peer_cert, node_id=args.node_id,
            key=args.key, certificate=args.cert, receiver_org=args.receiver, sender_org=args.sender,
            clock=SystemClock(), org_key=args.org_key, org_certificate=args.org_cert,
            receiver_endpoint=args.receiver_endpoint or "", receiver_auth=auth, verify=args.ca or True,
            timeout=args.timeout)
    except ValueError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    target = {"node port": args.url, "peer node": args.peer_node, "receiver": args.receiver, "sender": args.sender}
    return play("peer", ctx, target, args)


def cmd_reference_peer(args: argparse.Namespace) -> int:
    import signal
    from gateway.conformance import reference_peer
    vendors = []
    if args.vendor_node or args.vendor_url or args.vendor_cert:
        if not (args.vendor_node and args.vendor_url and args.vendor_cert):
            print("gateway: --vendor-node, --vendor-url and --vendor-cert go together", file=sys.stderr)
            return 2
        orgs = dict(item.partition("=")[::2] for item in args.vendor_org)
        vendors.append(reference_peer.Vendor(node_id=args.vendor_node, url=args.vendor_url,
                                             certificate=args.vendor_cert, organizations=orgs, ca=args.vendor_ca))
    try:
        peer = reference_peer.build_reference_peer(
            Path(args.data_dir), args.port, clock=SystemClock(), vendors=vendors, host=args.host,
            public_url=args.public_url, database=args.database, slow_seconds=args.slow_seconds,
            down_seconds=args.down_seconds)
    except ValueError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    print(peer.banner(), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: peer.stop())
    peer.serve_forever()
    return 0
