"""Every agency operation on one node, on SQLite and PostgreSQL (DESIGN section 3).

The node is called through its WSGI application with hand-built legacy
envelopes; tests/integration/test_smoke_live.py and the interop tests use real HTTP.
"""
from __future__ import annotations

import datetime as dt

import pytest
from gateway.testing.wire import PULL, call, delete_request, notifier_request, reference, send_request, soap

from gateway.testing.fixtures import CENTRAL, CHIANGMAI, KHONKAEN, REGION1
from gateway.core import ns
from gateway.core.time import wire_time

LID = "ศธ 0210/1234"


def send(node, **kw):
    kw.setdefault("sender", CENTRAL)
    kw.setdefault("receiver", CHIANGMAI)
    return call(node, kw["sender"], send_request(**kw))


def pull(node, org):
    return call(node, org, PULL)


def counts(node):
    with node.store.transaction() as tx:
        return tx.table_counts()


class TestSendAndPull:
    def test_letter_lands_in_receivers_queue_with_a_process_id(self, node):
        sent = send(node, letter_id=LID).ok()
        assert sent.element.tag == "CorrespondenceLetterOutboundResponse"
        assert sent.process_id and sent.element.findtext("processID") == sent.process_id
        echoed = sent.element.find(ns.rsm("GovernmentDocument"))
        assert echoed is not None and echoed.prefix == "rsm"
        got = pull(node, CHIANGMAI).ok()
        assert got.process_id == sent.process_id
        doc = got.element.find(ns.rsm("GovernmentDocument"))
        assert doc.find(f"{ns.ram('CorrespondenceLetter')}/{ns.ram('Subject')}").text == "ขอเชิญประชุมผู้บริหาร"
        assert doc.find(ns.ram("CorrespondenceLetter")).prefix == "ram"

    def test_other_organisations_see_nothing(self, node):
        send(node, letter_id=LID).ok()
        assert len(pull(node, KHONKAEN).ok().element) == 0
        assert len(pull(node, CENTRAL).ok().element) == 0

    def test_empty_queue_is_an_empty_element(self, node):
        reply = pull(node, CHIANGMAI).ok()
        assert reply.element.tag == "CorrespondenceLetterInboundResponse"
        assert len(reply.element) == 0 and not (reply.element.text or "").strip()

    def test_oldest_first(self, node, clock):
        first = send(node, letter_id="ศธ 0210/1").ok().process_id
        clock.advance(dt.timedelta(seconds=1))
        second = send(node, letter_id="ศธ 0210/2").ok().process_id
        assert pull(node, CHIANGMAI).process_id == first
        assert pull(node, CHIANGMAI).process_id == second

    def test_pulled_and_undeleted_item_is_served_again_after_the_visibility_timeout(self, node, clock):
        sent = send(node, letter_id=LID).ok().process_id
        assert pull(node, CHIANGMAI).process_id == sent
        assert len(pull(node, CHIANGMAI).element) == 0      # invisible while the client works on it
        clock.advance(node.config.visibility_timeout + dt.timedelta(seconds=1))
        assert pull(node, CHIANGMAI).process_id == sent      # the client crashed before deleting

    def test_deleted_item_is_never_served_again(self, node, clock):
        sent = send(node, letter_id=LID).ok().process_id
        pull(node, CHIANGMAI).ok()
        deleted = call(node, CHIANGMAI, delete_request(sent)).ok()
        assert deleted.element.tag == "CorrespondenceLetterDeleteResponse"
        assert deleted.process_id == sent and deleted.element.findtext("ProcessTime")
        clock.advance(dt.timedelta(hours=1))
        assert len(pull(node, CHIANGMAI).element) == 0

    def test_delete_twice_answers_the_same(self, node):
        sent = send(node, letter_id=LID).ok().process_id
        first = call(node, CHIANGMAI, delete_request(sent)).ok()
        again = call(node, CHIANGMAI, delete_request(sent)).ok()
        assert first.element.findtext("ProcessTime") == again.element.findtext("ProcessTime")

    def test_delete_of_another_organisations_item_is_refused(self, node):
        sent = send(node, letter_id=LID).ok().process_id
        reply = call(node, KHONKAEN, delete_request(sent))
        assert reply.error_code == "3003"
        assert pull(node, CHIANGMAI).process_id == sent

    def test_bare_endpoint_serves_the_default_organisation(self, node):
        sent = call(node, None, send_request(letter_id=LID, sender=CENTRAL, receiver=CHIANGMAI)).ok()
        assert pull(node, CHIANGMAI).process_id == sent.process_id

    def test_unknown_endpoint_organisation(self, node):
        reply = call(node, "1999999999", PULL)
        assert reply.error_code == "3005"


class TestIdempotentSend:
    def test_same_letter_twice_answers_with_the_first_process_id(self, node):
        first = send(node, letter_id=LID, send_date="2026-11-26T09:00:00").ok().process_id
        # A client retrying after a timeout rebuilds its XML with a new SendDate.
        again = send(node, letter_id=LID, send_date="2026-11-26T09:05:00").ok().process_id
        assert first == again
        assert counts(node)["letters"] == 1 and counts(node)["queue"] == 1

    def test_same_identity_different_content_is_refused(self, node):
        first = send(node, letter_id=LID).ok().process_id
        before = counts(node)
        reply = send(node, letter_id=LID, subject="เรื่องอื่น")
        assert reply.error_code == "2005" and first in reply.error_text
        assert counts(node) == before

    def test_same_number_to_another_receiver_is_another_letter(self, node):
        a = send(node, letter_id=LID, receiver=CHIANGMAI).ok().process_id
        b = send(node, letter_id=LID, receiver=KHONKAEN).ok().process_id
        assert a != b


class TestNotifiers:
    def _delivered(self, node):
        pid = send(node, letter_id=LID).ok().process_id
        pull(node, CHIANGMAI).ok()
        call(node, CHIANGMAI, delete_request(pid)).ok()
        return pid

    def test_receive_then_accept_reach_the_sender_in_order(self, node, clock):
        self._delivered(node)
        rcv = call(node, CHIANGMAI, notifier_request("ReceiveLetterNotifier", LID)).ok()
        note = rcv.element.find("ReceiveLetterNotifier")
        assert [c.tag for c in note] == ["LetterID", "CorrespondenceDate", "Subject", "AcceptDate", "AcceptDepartment"]
        assert note.findtext("AcceptDepartment/Code") == CHIANGMAI
        clock.advance(dt.timedelta(minutes=5))
        acc = call(node, CHIANGMAI, notifier_request("AcceptLetterNotifier", LID, accept_id="รับ 1234/2569")).ok()
        first = pull(node, CENTRAL).ok()
        assert first.process_id == rcv.process_id
        assert first.element.find("ReceiveLetterNotifier").findtext("LetterID") == LID
        call(node, CENTRAL, delete_request(first.process_id)).ok()
        second = pull(node, CENTRAL).ok()
        assert second.process_id == acc.process_id
        accepted = second.element.find("AcceptLetterNotifier")
        assert [c.tag for c in accepted] == ["LetterID", "AcceptID", "CorrespondenceDate", "Subject", "AcceptDate",
                                             "AcceptDepartment"]
        assert accepted.findtext("AcceptID") == "รับ 1234/2569"

    def test_accept_without_receive_is_allowed(self, node):
        """Some clients skip the Receive notifier: SENT -> ACCEPTED, and the sender sees the receive number."""
        first = self._delivered(node)
        accepted = call(node, CHIANGMAI, notifier_request("AcceptLetterNotifier", LID, accept_id="99")).ok()
        assert accepted.element.find("AcceptLetterNotifier").findtext("AcceptID") == "99"
        status = call(node, CENTRAL, soap("<OutboundStatusRequest/>")).ok()
        row = next(r for r in status.element.findall("Outbound") if r.findtext("ProcessID") == first)
        assert (row.findtext("ProcessStatus"), row.findtext("AcceptID")) == ("ACCEPTED", "99")

    def test_repeated_notifier_answers_the_first(self, node):
        self._delivered(node)
        a = call(node, CHIANGMAI, notifier_request("ReceiveLetterNotifier", LID)).ok().process_id
        b = call(node, CHIANGMAI, notifier_request("ReceiveLetterNotifier", LID)).ok().process_id
        assert a == b
        assert counts(node)["notices"] == 1

    def test_reject_then_withdraw_then_resend(self, node):
        first = self._delivered(node)
        call(node, CHIANGMAI, notifier_request("RejectLetterNotifier", LID, subject="ส่งผิดหน่วยงาน")).ok()
        # Before withdrawal the same identity with new content is still refused.
        assert send(node, letter_id=LID, subject="ฉบับแก้ไข").error_code == "2005"
        withdrawn = call(node, CENTRAL, soap(reference("CorrespondenceDeleteGovernmentDocumentRequest", LID,
                                                        "2026-11-26", CENTRAL, CHIANGMAI))).ok()
        assert withdrawn.element.tag == "CorrespondenceDeleteGovernmentDocumentResponse"
        assert withdrawn.element.findtext("LetterID") == LID
        again = send(node, letter_id=LID, subject="ฉบับแก้ไข").ok().process_id
        assert again != first

    def test_invalid_then_withdraw(self, node):
        first = self._delivered(node)
        call(node, CHIANGMAI, notifier_request("InvalidLetterNotifier", LID)).ok()
        withdrawn = call(node, CENTRAL, soap(reference("CorrespondenceDeleteGovernmentDocumentRequest", LID,
                                                        "2026-11-26", CENTRAL, CHIANGMAI))).ok()
        assert withdrawn.element.findtext("LetterID") == LID
        status = call(node, CENTRAL, soap("<OutboundStatusRequest/>")).ok()
        row = next(r for r in status.element.findall("Outbound") if r.findtext("ProcessID") == first)
        assert row.findtext("ProcessStatus") == "WITHDRAWN"
        again = send(node, letter_id=LID, subject="ฉบับแก้ไข").ok()
        assert again.process_id != first, "the withdrawn identity is free for the resend"

    def test_withdraw_of_an_accepted_letter_is_refused(self, node):
        self._delivered(node)
        call(node, CHIANGMAI, notifier_request("AcceptLetterNotifier", LID, accept_id="1")).ok()
        reply = call(node, CENTRAL, soap(reference("CorrespondenceDeleteGovernmentDocumentRequest", LID,
                                                    "2026-11-26", CENTRAL, CHIANGMAI)))
        assert reply.error_code == "3002"

    def test_only_the_sender_may_withdraw(self, node):
        self._delivered(node)
        call(node, CHIANGMAI, notifier_request("RejectLetterNotifier", LID)).ok()
        reply = call(node, CHIANGMAI, soap(reference("CorrespondenceDeleteGovernmentDocumentRequest", LID,
                                                      "2026-11-26", CENTRAL, CHIANGMAI)))
        assert reply.error_code == "2006"

    def test_withdrawn_unpulled_letter_leaves_the_receivers_queue(self, node):
        send(node, letter_id=LID).ok()
        call(node, CHIANGMAI, notifier_request("InvalidLetterNotifier", LID)).ok()
        call(node, CENTRAL, soap(reference("CorrespondenceDeleteGovernmentDocumentRequest", LID, "2026-11-26",
                                           CENTRAL, CHIANGMAI))).ok()
        assert len(pull(node, CHIANGMAI).element) == 0

    def test_disputed_receive_number_reaches_the_receiver_and_is_reaccepted(self, node):
        self._delivered(node)
        call(node, CHIANGMAI, notifier_request("AcceptLetterNotifier", LID, accept_id="รับ 1")).ok()
        dispute = call(node, CENTRAL, notifier_request("InvalidAcceptIDNotifier", LID, accept_id="รับ 1")).ok()
        got = pull(node, CHIANGMAI).ok()
        assert got.process_id == dispute.process_id
        assert got.element.find("InvalidAcceptIDNotifier").findtext("AcceptID") == "รับ 1"
        call(node, CHIANGMAI, notifier_request("AcceptLetterNotifier", LID, accept_id="รับ 2")).ok()
        status = call(node, CENTRAL, soap("<OutboundStatusRequest/>")).ok()
        row = status.element.find("Outbound")
        assert row.findtext("ProcessStatus") == "ACCEPTED" and row.findtext("AcceptID") == "รับ 2"

    def test_dispute_of_a_number_the_letter_does_not_carry(self, node):
        self._delivered(node)
        call(node, CHIANGMAI, notifier_request("AcceptLetterNotifier", LID, accept_id="รับ 1")).ok()
        reply = call(node, CENTRAL, notifier_request("InvalidAcceptIDNotifier", LID, accept_id="รับ 9"))
        assert reply.error_code == "3001"

    @pytest.mark.parametrize("element", ["ReceiveLetterNotifier", "RejectLetterNotifier", "InvalidLetterNotifier"])
    def test_notifier_after_accept_is_an_illegal_transition(self, node, element):
        self._delivered(node)
        call(node, CHIANGMAI, notifier_request("AcceptLetterNotifier", LID, accept_id="1")).ok()
        before = counts(node)
        reply = call(node, CHIANGMAI, notifier_request(element, LID))
        assert reply.error_code == "3002"
        assert counts(node) == before

    def test_the_sender_cannot_send_receivers_notifiers(self, node):
        self._delivered(node)
        reply = call(node, CENTRAL, notifier_request("ReceiveLetterNotifier", LID))
        assert reply.error_code == "3001"

    def test_notifier_for_an_unknown_letter(self, node):
        reply = call(node, CHIANGMAI, notifier_request("ReceiveLetterNotifier", "ศธ 9999/1"))
        assert reply.error_code == "3001"

    def test_same_number_from_two_senders_is_ambiguous(self, node):
        send(node, letter_id=LID, sender=CENTRAL).ok()
        send(node, letter_id=LID, sender=REGION1).ok()
        reply = call(node, CHIANGMAI, notifier_request("ReceiveLetterNotifier", LID))
        assert reply.error_code == "3004"


class TestSpecialRequest:
    def test_letter_fetched_again_by_its_receiver(self, node):
        sent = send(node, letter_id=LID).ok().process_id
        got = call(node, CHIANGMAI, soap("<CorrespondenceLetterInboundSpecialRequest>"
                                         + reference("GovernmentDocument", LID, "2026-11-26", CENTRAL, CHIANGMAI)
                                         + "</CorrespondenceLetterInboundSpecialRequest>")).ok()
        assert got.element.tag == "CorrespondenceLetterInboundResponse"
        assert got.process_id == sent
        assert got.element.find(ns.rsm("GovernmentDocument")) is not None

    def test_notifier_fetched_again_by_the_sender(self, node):
        send(node, letter_id=LID).ok()
        rcv = call(node, CHIANGMAI, notifier_request("ReceiveLetterNotifier", LID)).ok().process_id
        got = call(node, CENTRAL, soap("<CorrespondenceLetterInboundSpecialRequest>"
                                       + reference("ReceiveLetterNotifier", LID, "2026-11-26", CENTRAL, CHIANGMAI)
                                       + "</CorrespondenceLetterInboundSpecialRequest>")).ok()
        assert got.process_id == rcv and got.element.find("ReceiveLetterNotifier") is not None

    def test_a_third_organisation_cannot_fetch_the_letter(self, node):
        send(node, letter_id=LID).ok()
        reply = call(node, KHONKAEN, soap("<CorrespondenceLetterInboundSpecialRequest>"
                                          + reference("GovernmentDocument", LID, "2026-11-26", CENTRAL, CHIANGMAI)
                                          + "</CorrespondenceLetterInboundSpecialRequest>"))
        assert reply.error_code == "2006"

    def test_missing_notifier(self, node):
        send(node, letter_id=LID).ok()
        reply = call(node, CENTRAL, soap("<CorrespondenceLetterInboundSpecialRequest>"
                                         + reference("AcceptLetterNotifier", LID, "2026-11-26", CENTRAL, CHIANGMAI)
                                         + "</CorrespondenceLetterInboundSpecialRequest>"))
        assert reply.error_code == "3003"


class TestOutboundStatus:
    def test_status_follows_the_letter(self, node):
        pid = send(node, letter_id=LID).ok().process_id

        def status():
            rows = call(node, CENTRAL, soap("<OutboundStatusRequest/>")).ok().element.findall("Outbound")
            assert [r.findtext("ProcessID") for r in rows] == [pid]
            assert rows[0].findtext("LetterID") == LID
            return rows[0].findtext("ProcessStatus")

        assert status() == "DELIVERED"
        pull(node, CHIANGMAI).ok()
        assert status() == "PULLED"
        call(node, CHIANGMAI, notifier_request("ReceiveLetterNotifier", LID)).ok()
        assert status() == "RECEIVED"
        call(node, CHIANGMAI, notifier_request("AcceptLetterNotifier", LID, accept_id="1")).ok()
        assert status() == "ACCEPTED"
        call(node, CENTRAL, notifier_request("InvalidAcceptIDNotifier", LID, accept_id="1")).ok()
        assert status() == "ACCEPT_ID_DISPUTED"

    def test_only_own_letters_and_only_recent_ones(self, node, clock):
        send(node, letter_id=LID).ok()
        assert call(node, KHONKAEN, soap("<OutboundStatusRequest/>")).ok().element.findall("Outbound") == []
        clock.advance(node.config.outbound_status_window + dt.timedelta(days=1))
        assert call(node, CENTRAL, soap("<OutboundStatusRequest/>")).ok().element.findall("Outbound") == []


class TestDirectoryAndCodes:
    def test_organisation_list(self, node):
        info = call(node, CENTRAL, soap("<GetOrganizationList/>")).ok().element
        assert info.tag == "OrganizationList"
        rows = {r.findtext("OrganizationID"): r for r in info.findall("OrganizationInfo")}
        assert rows[CHIANGMAI].findtext("Th-Name") == "สำนักงานศึกษาธิการจังหวัดเชียงใหม่"
        assert rows[CHIANGMAI].findtext("ECMS-URL").endswith(f"/ecms-ws01/service2/{CHIANGMAI}")
        assert [c.tag for c in rows[CENTRAL]] == ["En-Name", "Th-Name", "ECMS-URL", "OrganizationID"]

    def test_ministry_list(self, node):
        el = call(node, CENTRAL, soap("<GetMinistryOrganizationList/>")).ok().element
        rows = {r.findtext("MinistryID"): r.findtext("Th-Name") for r in el.findall("MinistryOrganizationList")}
        assert rows["20"] == "กระทรวงศึกษาธิการ" and len(rows) == 22

    @pytest.mark.parametrize("request_el,response_el,value,text", [
        ("GetSecretCodes", "SecretCodes", "004", "ลับที่สุด"),
        ("GetSpeedCodes", "SpeedCodes", "003", "ด่วนมาก"),
    ])
    def test_code_lists(self, node, request_el, response_el, value, text):
        el = call(node, CENTRAL, soap(f"<{request_el}/>")).ok().element
        assert el.tag == response_el
        assert {c.findtext("Value"): c.findtext("Description") for c in el.findall("Code")}[value] == text

    def test_mime_codes(self, node):
        el = call(node, CENTRAL, soap("<GetMimeCodes/>")).ok().element
        codes = {c.findtext("File-Extension"): c.findtext("Content-type") for c in el.findall("Code")}
        assert codes["pdf"] == "application/pdf" and len(codes) == 14

    def test_time_check(self, node, clock):
        el = call(node, CENTRAL, soap("<TimeCheckRequest/>")).ok().element
        assert el.tag == "ECMSTime" and el.text == wire_time(clock.now())


def test_soap12_request_gets_a_soap12_answer(node):
    body = ('<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>'
            "<TimeCheckRequest/></env:Body></env:Envelope>").encode()
    reply = call(node, CENTRAL, body, content_type="application/soap+xml; charset=utf-8")
    assert reply.root.tag == f"{{{ns.SOAP12_ENV}}}Envelope" and reply.element.tag == "ECMSTime"


def test_soap12_fault(node):
    body = ('<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>'
            "<NoSuchRequest/></env:Body></env:Envelope>").encode()
    reply = call(node, CENTRAL, body, content_type="application/soap+xml")
    assert reply.status == 400 and reply.error_code == "1005"
    assert reply.root.find(f".//{{{ns.SOAP12_ENV}}}Value").text == "env:Sender"
