"""`sav privacy new-master-key | erase | encrypt-legacy | rotate-master-key` (issue 12)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from sav.cli.parsing import add_command
from sav.cli.progress import progress
from sav.config import Settings


def add_privacy_parser(sub: Any) -> None:
    privacy = add_command(
        sub, "privacy", "GDPR erasure and the keys of personal data",
        "GDPR erasure and the keys of personal data: each ticket's and customer's text\n"
        "is encrypted with its own data key, wrapped by SAV_MASTER_KEY (see README,\n"
        "\"Personal data and GDPR erasure\").")
    privacy_sub = privacy.add_subparsers(dest="privacy_command", required=True,
                                         metavar="COMMAND")
    add_command(
        privacy_sub, "new-master-key", "print a new random SAV_MASTER_KEY (32 bytes, base64)",
        "Print a new random master key (32 bytes, base64) for SAV_MASTER_KEY or for\n"
        "`sav privacy rotate-master-key --new-key-file`. Connects to nothing."
    ).set_defaults(handler=cmd_new_master_key, needs=())
    erase = add_command(
        privacy_sub, "erase", "erase a data subject: destroy their keys, record the erasure, "
                              "delete their attachment files (read models follow when a "
                              "projector runs)",
        "Erase a data subject (a customer by user id, or a public form's contact by\n"
        "e-mail): destroy their data keys, record the erasure, delete their attachment\n"
        "files. Read models show null for their text once a projector has run. Prints\n"
        "the erasure (JSON); exit 1 if the files could not all be deleted (run again).")
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--user-id", help="the customer's user id")
    who.add_argument("--email", help="the contact e-mail of public tickets")
    erase.set_defaults(handler=cmd_erase)
    add_command(
        privacy_sub, "encrypt-legacy", "rewrite once the events stored in plain text before "
                                       "encryption existed into the encrypted form (idempotent)",
        "Rewrite, once, the personal fields of events stored in plain text before\n"
        "encryption existed into the encrypted form (idempotent; a progress bar on a\n"
        "terminal). Afterwards VACUUM the SQLite file or OPTIMIZE TABLE stored_events."
    ).set_defaults(handler=cmd_encrypt_legacy)
    rotate = add_command(
        privacy_sub, "rotate-master-key", "wrap every data key with a new master key; then "
                                          "set SAV_MASTER_KEY to it and restart every process",
        "Wrap every data key (and the e-mail index key) with a new master key, in one\n"
        "transaction; then set SAV_MASTER_KEY to it and restart every process. The new\n"
        "key is read from a file or stdin, never from the command line (where `ps` and\n"
        "the shell history would show it):\n"
        "  (umask 077; sav privacy new-master-key > new.key)\n"
        "  sav privacy rotate-master-key --new-key-file new.key")
    rotate.add_argument("--new-key-file", required=True, metavar="PATH",
                        help="file holding the new key (from `sav privacy new-master-key`); "
                             "`-` reads it from stdin")
    # The flag of old scripts is refused by name, without echoing its value (argparse's
    # "unrecognized arguments" would print the key; a prefix would read it as a file).
    rotate.add_argument("--new-key", action=RemovedKeyFlag, help=argparse.SUPPRESS)
    rotate.set_defaults(handler=cmd_rotate)


class RemovedKeyFlag(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        parser.error("--new-key was removed: a key on the command line shows in `ps` and "
                     "the shell history; pass --new-key-file PATH (`-`: stdin)")


def cmd_new_master_key(settings: Settings, args: argparse.Namespace) -> int:
    from sav.privacy.crypto import new_master_key

    print(new_master_key())
    return 0


def cmd_erase(settings: Settings, args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from sav.bootstrap import bootstrap
    from sav.commands.actor import Actor
    from sav.events.rules import Role
    from sav.privacy.erasure import EraseSubject, delete_objects, erase_subject

    try:
        cmd = EraseSubject(user_id=args.user_id, email=args.email)
    except ValidationError as error:
        print(f"sav privacy erase: {error.errors()[0]['msg']}", file=sys.stderr)
        return 2
    from sav.storage.base import BlobStoreError

    services = bootstrap(settings)
    try:
        erased = erase_subject(services.app, Actor("cli", Role.ADMIN.value), cmd)
        files = asyncio.run(_delete_files(services, erased.ticket_ids, delete_objects))
    except BlobStoreError as error:
        print(f"sav privacy erase: personal data erased, but the attachment files were not "
              f"deleted ({error}): run the same erasure again", file=sys.stderr)
        return 1
    finally:
        services.close()
    print(orjson.dumps({"id": str(erased.erasure_id), "status": "pending",
                        "tickets": len(erased.ticket_ids), "files_deleted": files}).decode())
    return 0


async def _delete_files(services: Any, ticket_ids: list[str], delete: Any) -> int:
    try:
        return int(await delete(await services.storage.get(), ticket_ids))
    finally:
        await services.storage.close()


def cmd_encrypt_legacy(settings: Settings, args: argparse.Namespace) -> int:
    from sav.bootstrap import bootstrap
    from sav.privacy.legacy import encrypt_legacy

    services = bootstrap(settings)
    try:
        total = services.app.recorder.max_notification_id() or 0
        with progress(total, "encrypt-legacy") as bar:
            rewritten = encrypt_legacy(services.app, bar.update)
    finally:
        services.close()
    print(f"rewrote {rewritten} events stored in plain text")
    return 0


def cmd_rotate(settings: Settings, args: argparse.Namespace) -> int:
    from sav.privacy.crypto import MasterKeyError, parse_master_key
    from sav.privacy.setup import open_key_store

    try:
        text = read_secret(args.new_key_file)
        new = parse_master_key(text)
    except (OSError, MasterKeyError) as error:
        print(f"sav privacy rotate-master-key: {error}", file=sys.stderr)
        return 2
    count = open_key_store(settings).rewrap(new)
    if not settings.master_key:  # the generated key of the embedded default: replace it
        (settings.data_dir / "master_key").write_text(text)
        print(f"rewrapped {count} data keys; {settings.data_dir / 'master_key'} holds the new key")
        return 0
    print(f"rewrapped {count} data keys: set SAV_MASTER_KEY to the new key and restart "
          "every process now (the old key no longer opens the key store)")
    return 0


def read_secret(path: str) -> str:
    """A secret from a file, or from stdin for `-`: never an argument, which `ps` and the
    shell history show."""
    if path == "-":
        return sys.stdin.readline().strip()
    try:
        return Path(path).read_text().strip()
    except OSError as error:
        raise OSError(f"cannot read the new key from {path}: {error.strerror}") from None
