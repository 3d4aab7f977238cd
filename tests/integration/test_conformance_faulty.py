"""A deliberately faulty node fails exactly the conformance cases that check its fault, and no others.

Each fault is a WSGI wrapper in front of a real node (real HTTP on loopback, the node's own
answers otherwise untouched). Cases that need a failed case first are BLOCKED, not failed; both
sets are asserted exactly, so a case that stops detecting its fault, or one that fails for a
fault it does not check, is caught.
"""
from __future__ import annotations

import io
import re
import threading

import pytest

from gateway.adapters.clock import SystemClock
from gateway.conformance import node_edges, plan  # noqa: F401 - registers the edge cases
from gateway.runtime.serve import make_server
from gateway.testing.live import free_port
from test_conformance_node import node_context, run_plan


class Faulty:
    """Calls the real node, then lets ``fault`` change the request or the answer."""

    def __init__(self, app, fault: str) -> None:
        self.app, self.fault = app, fault
        self.lock = threading.Lock()
        self.first_process_id: bytes | None = None
        self.last_pull: dict[str, bytes] = {}
        self.replayed = False

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        org = environ.get("PATH_INFO", "").rstrip("/").rpartition("/")[2]
        if self.fault == "drop-accept-notifiers" and b"<AcceptLetterNotifier>" in body:
            # Acknowledged to the receiver, never passed on to the node: the sender never hears of it.
            answer = (b'<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.'
                      b'xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><CorrespondenceLetterOutboundResponse><ProcessID>'
                      b"dropped</ProcessID><processID>dropped</processID><ProcessTime>now</ProcessTime>"
                      b"</CorrespondenceLetterOutboundResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>")
            return self._answer(start_response, "200 OK", [("Content-Type", "text/xml; charset=utf-8")], answer)
        with self.lock:
            if self.fault == "serve-deleted" and b"<CorrespondenceLetterInboundRequest" in body \
                    and self.replayed is None:
                self.replayed = True
                return self._answer(start_response, "200 OK", [("Content-Type", "text/xml; charset=utf-8")],
                                    self.last_pull[org])
        environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        seen = {}
        chunks = self.app(environ, lambda status, headers, exc_info=None: seen.update(status=status, headers=headers))
        answer = b"".join(chunks)
        with self.lock:
            answer = self._change(org, body, answer)
        headers = [(k, v) for k, v in seen["headers"] if k.lower() != "content-length"]
        return self._answer(start_response, seen["status"], headers, answer)

    def _change(self, org: str, request: bytes, answer: bytes) -> bytes:
        if self.fault == "default-namespace" and b"<SecretCodes>" in answer:
            return answer.replace(b"<SecretCodes>", b'<SecretCodes xmlns="urn:th:gov:egif:ecms:agency:1">')
        if self.fault == "serve-deleted":
            if b"<CorrespondenceLetterInboundRequest" in request and b"<ProcessID>" in answer:
                self.last_pull[org] = answer
            if b"<CorrespondenceLetterDeleteRequest>" in request and self.replayed is False:
                self.replayed = None          # the next pull serves the deleted item once more
        if self.fault == "reuse-process-ids" and b"<CorrespondenceLetterOutboundResponse>" in answer:
            found = re.search(rb"<ProcessID>([^<]*)</ProcessID>", answer)
            if found and b"<rsm:GovernmentDocument" in request:
                if self.first_process_id is None:
                    self.first_process_id = found.group(1)
                answer = answer.replace(found.group(1), self.first_process_id)
        return answer

    @staticmethod
    def _answer(start_response, status, headers, body: bytes):
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]


@pytest.fixture
def faulty(live, request):
    """A faulty node in front of ``live``'s node, on its own port; yields a live-like object."""
    port = free_port()
    server = make_server(Faulty(live.node.wsgi, request.param), "127.0.0.1", port, threads=8, clock=SystemClock())
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()

    class Front:
        node = live.node
        base = f"http://127.0.0.1:{port}"

        def endpoint(self, org=None):
            return live.endpoint(org).replace(live.base, self.base)
    yield Front()
    server.stop()
    thread.join(timeout=5)


B = plan.Status.BLOCKED


@pytest.mark.parametrize("faulty, failed, blocked", [
    # An answer in a default namespace: deployed clients' GetElementsByTagName("Code") finds nothing.
    ("default-namespace", {"A2"}, set()),
    # The accept notifier never reaches the sender: its status and the dispute that follows.
    ("drop-accept-notifiers", {"A9"}, {"A10", "A11"}),
    # A deleted item is served again once, right after its delete.
    ("serve-deleted", {"A6"}, {"A7", "A8", "A9", "A10", "A11"}),
    # Every legacy letter answered with the first letter's ProcessID: a later letter's status or pull disagrees.
    ("reuse-process-ids", {"A18", "A22"}, set()),
], indirect=["faulty"])
def test_a_faulty_node_fails_exactly_the_cases_that_check_its_fault(faulty, clock, data_dir, failed, blocked):
    report = run_plan(node_context(faulty, clock, data_dir), clock)
    got_failed = {o.case.id for o in report.outcomes if o.status in (plan.Status.FAILED, plan.Status.ERROR)}
    got_blocked = {o.case.id for o in report.outcomes if o.status is B}
    details = {o.case.id: o.message[:300] for o in report.outcomes if o.status is not plan.Status.PASSED}
    assert (got_failed, got_blocked) == (failed, blocked), details
    assert not report.passed
