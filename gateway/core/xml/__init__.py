"""XML in and out: the one hardened parser, legacy envelopes, the committed contract (WSDL/XSD)."""
