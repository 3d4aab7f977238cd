"""Sans-IO core: bytes, elements and values (and `now`) in; values, bytes or RemoteError out."""
