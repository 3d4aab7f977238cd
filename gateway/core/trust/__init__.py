"""Signatures (XML-DSig), certificates, the keyring and tenant checks."""
