"""`sav privacy new-master-key | erase | encrypt-legacy | rotate-master-key` (issue 12)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson

from sav.config import Settings


def add_privacy_parser(sub: Any) -> None:
    privacy = sub.add_parser("privacy", help="GDPR erasure and the keys of personal data")
    privacy_sub = privacy.add_subparsers(dest="privacy_command", required=True)
    privacy_sub.add_parser(
        "new-master-key", help="print a new random SAV_MASTER_KEY (32 bytes, base64)"
    ).set_defaults(handler=cmd_new_master_key)
    erase = privacy_sub.add_parser(
        "erase", help="erase a data subject: destroy their keys, record the erasure, delete "
                      "their attachment files (read models follow when a projector runs)")
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--user-id", help="the customer's user id")
    who.add_argument("--email", help="the contact e-mail of public tickets")
    erase.set_defaults(handler=cmd_erase)
    privacy_sub.add_parser(
        "encrypt-legacy", help="rewrite once the events stored in plain text before "
                               "encryption existed into the encrypted form (idempotent)"
    ).set_defaults(handler=cmd_encrypt_legacy)
    rotate = privacy_sub.add_parser(
        "rotate-master-key", help="wrap every data key with a new master key; then set "
                                  "SAV_MASTER_KEY to it and restart every process")
    rotate.add_argument("--new-key", required=True,
                        help="the new key (from `sav privacy new-master-key`)")
    rotate.set_defaults(handler=cmd_rotate)


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
    from tqdm import tqdm

    from sav.bootstrap import bootstrap
    from sav.privacy.legacy import encrypt_legacy

    services = bootstrap(settings)
    try:
        total = services.app.recorder.max_notification_id() or 0
        with tqdm(total=total, unit=" events", desc="encrypt-legacy", unit_scale=True) as bar:
            rewritten = encrypt_legacy(services.app, bar.update)
    finally:
        services.close()
    print(f"rewrote {rewritten} events stored in plain text")
    return 0


def cmd_rotate(settings: Settings, args: argparse.Namespace) -> int:
    from sav.privacy.crypto import MasterKeyError, parse_master_key
    from sav.privacy.setup import open_key_store

    try:
        new = parse_master_key(args.new_key)
    except MasterKeyError as error:
        print(f"sav privacy rotate-master-key: {error}", file=sys.stderr)
        return 2
    count = open_key_store(settings).rewrap(new)
    if not settings.master_key:  # the generated key of the embedded default: replace it
        (settings.data_dir / "master_key").write_text(args.new_key.strip())
        print(f"rewrapped {count} data keys; {settings.data_dir / 'master_key'} holds the new key")
        return 0
    print(f"rewrapped {count} data keys: set SAV_MASTER_KEY to the new key and restart "
          "every process now (the old key no longer opens the key store)")
    return 0
