"""A local RFC 3161 time-stamping authority on a loopback port, for the tests and the bench.

It answers a TimeStampReq (HTTP POST, ``application/timestamp-query``) by running
``openssl ts -reply`` (Debian's openssl) and sends the TimeStampResp back as
``application/timestamp-reply``. On first use it makes, in the folder it is given:

* ``ca.key`` / ``ca.pem``: a small self-signed CA (basicConstraints CA:TRUE, critical);
* ``tsa.key`` / ``tsa.pem``: the TSA certificate that CA issues, with the critical
  extendedKeyUsage timeStamping RFC 3161 section 2.3 requires;
* ``chain.pem``: ``tsa.pem`` then ``ca.pem``, the bundle a client pins;
* ``openssl.cnf``: the ``[tsa]`` section ``openssl ts`` reads, and a serial file.

A folder already holding these is reused. A missing openssl is an error, never a skip.

Tests may set ``rewrite_query`` (bytes -> bytes, applied to the query before it is signed)
or ``rewrite_reply`` (applied to the signed answer) to make a well-signed answer to some
other request, or a damaged one.
"""
from __future__ import annotations

import http.server
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
POLICY = "1.3.6.1.4.1.99999.3161.1"   # a made-up policy OID: this TSA is for tests only
MAX_QUERY = 64 * 1024

_CONFIG = """\
# Written by gateway/testing/tsa.py for a local test TSA.
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {folder}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = {policy}
other_policies = {policy}
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256

[ req ]
distinguished_name = req_dn

[ req_dn ]

[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ tsa_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


class OpensslMissing(RuntimeError):
    pass


def openssl() -> str:
    found = shutil.which("openssl")
    if not found:
        raise OpensslMissing("the openssl command is not installed: the test TSA needs it "
                             "(install the Debian package openssl)")
    return found


def _run(*args: str, stdin: bytes | None = None) -> bytes:
    done = subprocess.run([openssl(), *args], input=stdin, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed ({done.returncode}): "
                           f"{done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def make_authority(folder: Path, name: str = "Gateway Test TSA") -> Path:
    """The CA, TSA key and certificate and openssl config in ``folder`` (made once); the config's path."""
    folder.mkdir(parents=True, exist_ok=True)
    cnf = folder / "openssl.cnf"
    if all((folder / f).exists() for f in ("openssl.cnf", "ca.pem", "tsa.pem", "tsa.key", "chain.pem", "serial")):
        return cnf
    cnf.write_text(_CONFIG.format(folder=folder.resolve(), policy=POLICY), encoding="utf-8")
    (folder / "serial").write_text("01\n", encoding="ascii")
    for key in ("ca.key", "tsa.key"):
        _run("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(folder / key))
    _run("req", "-new", "-x509", "-utf8", "-config", str(cnf), "-extensions", "ca_ext", "-key", str(folder / "ca.key"),
         "-subj", f"/C=TH/O={name}/CN={name} Root CA", "-days", "3650", "-sha256", "-out", str(folder / "ca.pem"))
    csr = _run("req", "-new", "-utf8", "-config", str(cnf), "-key", str(folder / "tsa.key"),
               "-subj", f"/C=TH/O={name}/CN={name}")
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".csr") as request:
        request.write(csr)
        request.flush()
        _run("x509", "-req", "-in", request.name, "-CA", str(folder / "ca.pem"), "-CAkey", str(folder / "ca.key"),
             "-set_serial", "2", "-days", "3650", "-sha256", "-extfile", str(cnf), "-extensions", "tsa_ext",
             "-out", str(folder / "tsa.pem"))
    chain = (folder / "tsa.pem").read_bytes() + (folder / "ca.pem").read_bytes()
    (folder / "chain.pem").write_bytes(chain)
    return cnf


class LocalTSA:
    """A running test TSA: ``url``, ``certificate`` (chain.pem: the TSA's certificate, then the CA),
    ``ca`` (ca.pem, for ``openssl ts -verify -CAfile``), ``requests`` (queries answered) and ``stop()``."""

    def __init__(self, folder: Path | str, *, name: str = "Gateway Test TSA") -> None:
        self.folder = Path(folder)
        self.config = make_authority(self.folder, name)
        self.certificate = self.folder / "chain.pem"
        self.tsa_certificate = self.folder / "tsa.pem"
        self.ca = self.folder / "ca.pem"
        self.rewrite_query: Callable[[bytes], bytes] | None = None
        self.rewrite_reply: Callable[[bytes], bytes] | None = None
        self.requests = 0
        self._lock = threading.Lock()   # openssl ts -reply bumps the serial file: one at a time
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/tsa"
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-tsa", daemon=True)
        self._thread.start()

    def reply(self, query: bytes) -> bytes:
        """The DER TimeStampResp ``openssl ts -reply`` gives for a DER TimeStampReq."""
        if self.rewrite_query is not None:
            query = self.rewrite_query(query)
        with self._lock, tempfile.TemporaryDirectory(dir=self.folder) as work:
            tsq, tsr = Path(work) / "query.tsq", Path(work) / "reply.tsr"
            tsq.write_bytes(query)
            _run("ts", "-reply", "-config", str(self.config), "-section", "tsa_config1",
                 "-queryfile", str(tsq), "-out", str(tsr))
            answer = tsr.read_bytes()
            self.requests += 1
        return self.rewrite_reply(answer) if self.rewrite_reply is not None else answer

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        tsa = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's interface
                length = int(self.headers.get("Content-Length") or 0)
                kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                if kind != QUERY_TYPE or not 0 < length <= MAX_QUERY:
                    self._answer(400, "text/plain", b"expected an application/timestamp-query body")
                    return
                try:
                    answer = tsa.reply(self.rfile.read(length))
                except RuntimeError as exc:
                    self._answer(500, "text/plain", str(exc).encode())
                    return
                self._answer(200, REPLY_TYPE, answer)

            def _answer(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet in tests
                pass

        return Handler

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LocalTSA:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_test_tsa(folder: Path | str) -> tuple[str, Path, Callable[[], None]]:
    """Start a test TSA keeping its keys in ``folder``: (url, certificate bundle path, stop)."""
    tsa = LocalTSA(folder)
    return tsa.url, tsa.certificate, tsa.stop
