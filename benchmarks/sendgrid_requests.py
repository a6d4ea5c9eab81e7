"""The SendGrid mailer's cost per request, with the connection reused (the
mailer) and with the `sendgrid` package as shipped (a new connection per
request), against the fake SendGrid server in a process of its own.

    python benchmarks/sendgrid_requests.py [--requests 200]

For groups of 1, 4 (about a daily run's mean) and 1000 recipients of one
digest, over http and over https (the fake with a test CA's certificate,
trusted through SSL_CERT_FILE): wall and client CPU milliseconds per request,
what of it is building the request body and encoding it as JSON (spliced: the
digest's HTML escaped once per card and frame of the run and put in, as the
mailer does for a digest assembled from fragments; whole: all of it encoded
per request), and the connections the server saw.
Loopback has no network latency: a real API host adds round trips per new
connection (TCP, then TLS) that a reused connection does not pay.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.daily_mail import API_KEY, fake_sendgrid, server_counts  # noqa: E402
from digest.mail.sendgrid import SendGridMailer, encoded_body, request_body  # noqa: E402
from digest.render import CompileCache  # noqa: E402
from tests.fakes.smtp_server import make_ca  # noqa: E402
from tests.pipeline_helpers import SITE  # noqa: E402
from tests.test_mail_sendgrid import messages  # noqa: E402
from tests.test_render import sample_digest  # noqa: E402

SENDER = "Trending Papers <digest@example.org>"


def per_request(send, count: int) -> tuple[float, float]:
    """(wall, CPU) milliseconds per call of `send`."""
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        send()
    return (
        1000 * (time.perf_counter() - started) / count,
        1000 * (time.process_time() - cpu) / count,
    )


def main() -> None:
    """Print the table (Markdown)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    # What the package as shipped pays per https request with the system's CA
    # store, which the test CA below stands in for with one certificate.
    system_store = per_request(ssl.create_default_context, 20)[1]
    with tempfile.TemporaryDirectory() as tmp:
        ca = make_ca(Path(tmp))
        os.environ["SSL_CERT_FILE"] = str(ca.ca_file)  # before any client makes its context
        print(
            "| scheme | group | client | wall ms | CPU ms | body + JSON ms (spliced) "
            "| body + JSON ms (whole) | connections |"
        )
        print("|---|---:|---|---:|---:|---:|---:|---:|")
        for tls in (None, (ca.cert_file, ca.key_file)):
            for size in (1, 4, 1000):
                rows(size, tls, max(args.requests // (20 if size == 1000 else 1), 5))
    print(f"\nssl.create_default_context() with the system CA store: {system_store:.1f} ms CPU")


def rows(size: int, tls, count: int) -> None:
    # A digest of 12 papers in 3 sections, assembled from a run's fragments.
    group = messages(size, compiled=CompileCache(SITE).get(sample_digest(12, per_section=4)))
    spliced = per_request(lambda: encoded_body(group, SENDER), count)[1]
    whole = per_request(lambda: json.dumps(request_body(group, SENDER)).encode(), count)[1]
    for client in ("reused connection", "as shipped"):
        with fake_sendgrid("sendgrid", tls) as url:
            mailer = SendGridMailer(API_KEY, SENDER, host=url)
            if client == "as shipped":
                from sendgrid import SendGridAPIClient

                # The same mailer over the package's own client.
                mailer.client.client = SendGridAPIClient(API_KEY, host=url).client

            def send(mailer=mailer):
                assert {o.status for o in mailer.send(group)} == {"sent"}

            wall, cpu = per_request(send, count)
            connections = server_counts(url)["connections"]
            mailer.close()
        scheme = "https" if tls else "http"
        print(
            f"| {scheme} | {size} | {client} | {wall:.2f} | {cpu:.2f} | {spliced:.2f} "
            f"| {whole:.2f} | {connections} for {count} |"
        )


if __name__ == "__main__":
    main()
