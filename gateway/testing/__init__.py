"""In-package fakes and builders for tests, the benchmark and the conformance kit (never imported by the node)."""
