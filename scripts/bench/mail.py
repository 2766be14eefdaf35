"""Benchmark: inbound mails/s through SAV's SMTP listener next to POST /tickets/s, on
the same `sav serve` (its in-process `mail` worker listens) in the same run.

Each mail is a new ticket (a distinct Message-ID), sent with smtplib over `--clients`
connections at once, several mails per connection; the listener answers 250 only once
the ticket is stored, so the figure is tickets opened by mail per second. Then wrk
keeps as many connections busy with `POST /tickets` (a customer's JSON body) for
`--seconds`. Not a test: it prints figures.

    python scripts/bench/mail.py [--profile sqlite|mysql] [--mails 2000] [--clients 8]
"""

from __future__ import annotations

import argparse
import smtplib
import threading
import time
from email.message import EmailMessage

from ceilings import free_port
from sav_process import SavServer, issue_token, new_jwt_secret, open_store
from wrk_client import Wrk

SUPPORT = "support@bench.example.com"


def mail(index: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Customer {index} <customer{index}@example.com>"
    message["To"] = SUPPORT
    message["Subject"] = f"Parcel {index} never came"
    message["Message-ID"] = f"<bench-{index}-{time.time_ns()}@example.com>"
    message.set_content("Ordered two weeks ago, tracking says nothing since.")
    return message


def send_mails(port: int, count: int, clients: int) -> tuple[float, int]:
    """Seconds to have `count` mails accepted, `clients` connections at a time."""
    failures = [0]
    lock = threading.Lock()

    def client(indexes: range) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            for index in indexes:
                try:
                    smtp.send_message(mail(index))
                except smtplib.SMTPException:
                    with lock:
                        failures[0] += 1

    share = count // clients
    threads = [threading.Thread(target=client, args=(range(i * share, (i + 1) * share),))
               for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, share * clients - failures[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", choices=["sqlite", "mysql"], default="sqlite")
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with open_store(args.profile, new_jwt_secret()) as store:
        smtp_port = free_port()
        store.env.update(SAV_INBOUND_SMTP_PORT=str(smtp_port), SAV_MAIL_ADDRESS=SUPPORT)
        with SavServer(store) as server:
            time.sleep(2)  # the in-process mail worker starts its listener
            token = issue_token(store.env, "bench-customer", "customer")
            send_mails(smtp_port, args.clients * 5, args.clients)  # warm-up
            seconds, accepted = send_mails(smtp_port, args.mails, args.clients)
            print(f"{args.profile}: SMTP listener: {accepted} mails in {seconds:.1f} s = "
                  f"{accepted / seconds:.0f} tickets/s by mail ({args.clients} connections)")
            result = Wrk().run(f"{server.base}/tickets", connections=args.clients,
                               seconds=args.seconds, method="POST",
                               body='{"subject": "Parcel never came", "description": '
                                    '"Ordered two weeks ago."}',
                               headers={"Authorization": f"Bearer {token}",
                                        "Content-Type": "application/json"})
            print(f"{args.profile}: POST /tickets: {result.rate:.0f} tickets/s "
                  f"(p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
                  f"{args.clients} connections; other codes {result.other_codes})")
            for line in server.errors():
                print("  server error:", line)


if __name__ == "__main__":
    main()
