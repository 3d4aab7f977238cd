"""A large letter's enclosures, read back from the blob store for whoever needs the whole letter (issue 10).

The letter row keeps a skeleton whose placeholders name its enclosures (core/letters/parts.py); the
blob store holds their text (store/blobs.py). These helpers serve that text to ``parts.splice``: the
worker pushing a letter to the next node, sealing a secret letter, and the pull answer.
"""
from __future__ import annotations

from gateway.core.letters import parts
from gateway.store import Store, Tx, run


def blob_texts(tx: Tx, allowed: list[str] | tuple[str, ...]) -> parts.Texts:
    """The text of the blobs ``allowed`` names (parts.only), read in the caller's transaction a chunk at a time."""
    def read(digest: str):
        index = 0
        while chunk := tx.blob_chunk(digest, index):
            yield chunk
            index += 1
    return parts.only(allowed, read)


def letter_parts(tx: Tx, process_id: str) -> list[str]:
    """The digests of the blobs letter ``process_id`` holds, in order; none for a letter held whole."""
    letter = tx.letter_by_process_id(process_id)
    return [digest for _, digest, _ in tx.letter_parts(letter.id)] if letter is not None else []


def whole(store: Store, process_id: str, skeleton: bytes) -> bytes:
    """Letter ``process_id`` with its enclosures spliced in, in memory: what a node message carries today.

    The node port does not stream yet (issue 10, part 4), so a letter leaving this node is held whole once
    while it is pushed.
    """
    if not parts.has_parts(skeleton):
        return skeleton
    return run(store, lambda tx: b"".join(parts.splice(skeleton, blob_texts(tx, letter_parts(tx, process_id)))))
