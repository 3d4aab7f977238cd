"""A letter crosses one node over real HTTP, on both stores."""
from gateway.testing.fixtures import CENTRAL, CHIANGMAI, PDF

from gateway.adapters.esaraban import AgencyClient, Attachment, OutgoingLetter


def test_send_pull_delete_over_http(live):
    sender = AgencyClient(live.endpoint(CENTRAL))
    receiver = AgencyClient(live.endpoint(CHIANGMAI))
    sent = sender.send_letter(OutgoingLetter(
        letter_id="ศธ 0210/7001", correspondence_date="2026-11-26", subject="ขอเชิญประชุม",
        sender=CENTRAL, receiver=CHIANGMAI, main_letter=Attachment(mime_code="pdf", content=PDF)))
    pulled = receiver.pull()
    assert pulled.process_id == sent.process_id
    assert pulled.item.findtext(".//{*}Subject") == "ขอเชิญประชุม"
    receiver.delete(pulled.process_id)
    assert receiver.pull().item is None
