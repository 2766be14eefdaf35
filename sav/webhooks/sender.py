"""`sav worker webhooks`: sends the event log to each subscription's endpoint.

One task per subscription, each with its own position (`webhook_positions`): it reads
the log after that position, records a delivery for each event the subscription names
and moves the position in the same transaction, then sends the deliveries that are due,
a few at a time. A slow or failing endpoint therefore only ever delays its own
deliveries. Each attempt is signed afresh (Standard Webhooks, `sav.webhooks.signing`)
with the event's `message_id` as `webhook-id`, so a receiver deduplicates the
at-least-once retries. Several copies may run; a database lease keeps one active, and a
new leader takes over from the rows: pending deliveries and positions lose nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
from sqlalchemy import Engine, select

from sav.commands.app import SavApplication
from sav.config import Settings
from sav.events import clock
from sav.events.errors import NotFoundError
from sav.events.webhook import FAILING, GONE
from sav.history.feed import EventFeed, feed_entry
from sav.webhooks import deliveries, signing
from sav.webhooks.commands import EVERY_EVENT, disable_webhook, load, signing_secrets
from sav.webhooks.deliveries import DELIVERED, FAILED, PENDING, NewDelivery, Outcome
from sav.webhooks.guard import TargetRefusedError, connect_address, literal_address, parse_target
from sav.webhooks.schedule import retry_delay
from sav.webhooks.subscriptions import all_subscriptions, w
from sav.workers.amqp import sleep_unless_stopped
from sav.workers.head import TAILER_IDLE_S, watch_store
from sav.workers.lease import Lease, lease_wait

log = logging.getLogger("sav.webhooks")

LEASE_NAME = "webhooks"
# Idle, nothing is polled but this (issue 21): subscriptions are read again when an
# append here or elsewhere (the process's probe of the store's head) may have changed
# them, a few times at growing intervals from REFRESH_FLOOR_S (the read model may apply
# the change a moment after the append), and every TAILER_IDLE_S regardless; retries an
# operator queued from another process are looked for every RETRY_CHECK_S.
REFRESH_FLOOR_S = 0.25
RETRY_CHECK_S = 5.0
# Positions further apart than this per delivery are read one by one, not scanned.
SCAN_SPAN = 20


@dataclass(frozen=True)
class Attempt:
    """What one attempt came to: `status_code` None when no answer came."""

    ok: bool
    status_code: int | None
    error: str | None
    duration: float


@dataclass
class Subscription:
    id: str
    url: str
    events: frozenset[str]
    active: bool
    created_position: int
    healthy: bool = True  # its last round had no failure

    @classmethod
    def of(cls, row: Any) -> Subscription:
        return cls(row.id, row.url, frozenset(row.events), bool(row.active),
                   int(row.created_position))

    def wants(self, event: str) -> bool:
        return EVERY_EVENT in self.events or event in self.events


class WebhookSender:
    def __init__(self, app: SavApplication, engine: Engine, settings: Settings, *,
                 window: int = 500, backlog: int = 1000, concurrency: int = 8,
                 round_size: int = 200,
                 poll_interval: float = 0.2, lease_ttl: float | None = None) -> None:
        self.app = app
        self.engine = engine
        self.feed = EventFeed.of(app)
        self.window = window  # events read per step
        self.backlog = backlog  # pending deliveries per subscription before reading more
        self.concurrency = concurrency  # attempts at once per subscription
        self.round_size = round_size  # deliveries taken per round (bodies, one write)
        self.poll_interval = poll_interval
        self.timeout = settings.webhook_timeout
        self.first_retry = settings.webhook_first_retry_seconds
        self.retry_window = settings.webhook_retry_hours * 3600.0
        self.allow_private = settings.webhook_allow_private
        self.https_only = settings.app_env == "production"
        self.lease = Lease(engine, LEASE_NAME, ttl=lease_ttl or settings.worker_lease_ttl)
        self.sent = 0  # attempts answered 2xx by this process
        self.observers: list[Callable[[str, str, float], None]] = []  # (id, outcome, s)
        # Per subscription: its read-model version, when the list ends by itself (a
        # rotation's grace period) and the secrets a delivery is signed with.
        self._secrets: dict[str, tuple[int, float | None, list[str]]] = {}
        self._leader = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakes: dict[str, asyncio.Event] = {}
        self._changed: asyncio.Event | None = None  # subscriptions may have changed

    def wake(self, _position: int | None = None) -> None:
        """Called after an append (of this process, or seen by the process's probe of
        the store's head): read it without waiting a poll."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake_all)

    def _wake_all(self) -> None:
        if self._changed is not None:
            self._changed.set()
        for wake in self._wakes.values():
            wake.set()

    def run(self, stop: threading.Event) -> None:
        asyncio.run(self.serve(stop))

    async def serve(self, stop: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        watch_store(self.app, stop, self.wake)
        lease_task = asyncio.create_task(self._hold_lease(stop))
        tasks: dict[str, asyncio.Task[None]] = {}
        current: dict[str, Subscription] = {}
        refresh_in = REFRESH_FLOOR_S
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False,
                                     timeout=self.timeout, limits=limits) as client:
            try:
                while not stop.is_set():
                    if not self._leader:
                        await self._stop_all(tasks)
                        await sleep_unless_stopped(stop, 0.1)
                        continue
                    try:
                        rows = await asyncio.to_thread(self._subscriptions)
                    except Exception:
                        log.exception("webhooks: cannot read the subscriptions; retrying")
                        await sleep_unless_stopped(stop, 1.0)
                        continue
                    refresh(current, rows)
                    for webhook_id in set(tasks) - set(current):  # deleted
                        tasks.pop(webhook_id).cancel()
                        self._wakes.pop(webhook_id, None)
                        self._secrets.pop(webhook_id, None)
                        if await asyncio.to_thread(self._deleted, webhook_id):
                            await asyncio.to_thread(deliveries.forget, self.engine,
                                                    webhook_id)
                    for webhook_id in set(current) - set(tasks):
                        self._wakes[webhook_id] = asyncio.Event()
                        tasks[webhook_id] = asyncio.create_task(
                            self._follow(webhook_id, current, client, stop))
                    for webhook_id, task in list(tasks.items()):
                        if task.done():  # it failed: start it again
                            tasks.pop(webhook_id)
                    refresh_in = await self._until_changed(stop, current, refresh_in)
            finally:
                await self._stop_all(tasks)
                lease_task.cancel()
                if self._leader:
                    with contextlib.suppress(Exception):
                        await asyncio.to_thread(self.lease.release)

    async def _stop_all(self, tasks: dict[str, asyncio.Task[None]]) -> None:
        for task in tasks.values():
            task.cancel()
        for task in tasks.values():
            with contextlib.suppress(BaseException):
                await task
        tasks.clear()

    async def _until_changed(self, stop: threading.Event, current: dict[str, Subscription],
                             refresh_in: float) -> float:
        """Wait until the subscriptions are to be read again; the wait after that one.
        Meanwhile wake the subscriptions whose retries are due (queued elsewhere)."""
        assert self._changed is not None
        read_at = time.monotonic()  # the subscriptions were just read
        deadline = read_at + refresh_in
        changed = False
        while not stop.is_set() and self._leader:
            if self._changed.is_set():
                self._changed.clear()
                changed = True
                # At most one read per REFRESH_FLOOR_S however many appends: a create
                # at a time no longer costs a read (and its transaction) each.
                deadline = min(deadline, read_at + REFRESH_FLOOR_S)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return REFRESH_FLOOR_S if changed else min(refresh_in * 2, TAILER_IDLE_S)
            await sleep_unless_stopped(stop, min(remaining, RETRY_CHECK_S), self._changed)
            if current and not self._changed.is_set() and time.monotonic() < deadline:
                due = await asyncio.to_thread(deliveries.due_subscriptions, self.engine,
                                              sorted(current), time.time())
                for webhook_id in due:
                    if webhook_id in self._wakes:
                        self._wakes[webhook_id].set()
        return REFRESH_FLOOR_S

    def _deleted(self, webhook_id: str) -> bool:
        """Gone from the read model because deleted (not a read model being rebuilt)."""
        try:
            load(self.app, webhook_id)
        except NotFoundError:
            return True
        return False

    def _is_active(self, webhook_id: str) -> bool:
        with self.engine.connect() as conn:
            return bool(conn.execute(select(w.active).where(w.id == webhook_id)).scalar())

    def _subscriptions(self) -> list[Any]:
        with self.engine.connect() as conn:
            return all_subscriptions(conn)

    async def _hold_lease(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self._leader = await asyncio.to_thread(self.lease.acquire)
            except Exception:
                log.exception("webhooks: cannot renew the lease")
                self._leader = False
            await sleep_unless_stopped(stop, lease_wait(self.lease, self._leader))

    # -- one subscription --------------------------------------------------------------

    async def _follow(self, webhook_id: str, current: dict[str, Subscription],
                      client: httpx.AsyncClient, stop: threading.Event) -> None:
        wake = self._wakes[webhook_id]
        start = await asyncio.to_thread(deliveries.start_position, self.engine, webhook_id,
                                        current[webhook_id].created_position)
        while not stop.is_set() and self._leader and webhook_id in current:
            subscription = current[webhook_id]
            try:
                # Read again each round: a pause is obeyed from the next round on.
                subscription.active = await asyncio.to_thread(self._is_active, webhook_id)
                if subscription.active:
                    start = await self._read_log(subscription, start)
                sent = await self._send_due(subscription, client)
            except Exception:
                log.exception("webhooks: subscription %s failed; retrying", webhook_id)
                await sleep_unless_stopped(stop, 1.0)
                start = await asyncio.to_thread(deliveries.start_position, self.engine,
                                                webhook_id, subscription.created_position)
                continue
            if not sent:
                # Woken by appends, by the check for retries queued elsewhere, or when
                # its own next retry is due.
                next_at = await asyncio.to_thread(deliveries.next_due, self.engine,
                                                  webhook_id)
                wait = TAILER_IDLE_S if next_at is None else next_at - time.time()
                await sleep_unless_stopped(stop, max(self.poll_interval, wait), wake)
                wake.clear()

    async def _read_log(self, subscription: Subscription, start: int) -> int:
        """Record the deliveries of the events after `start` (while the backlog allows)."""
        webhook_id = subscription.id
        pending = await asyncio.to_thread(deliveries.pending_count, self.engine, webhook_id)
        if pending >= self.backlog:
            return start
        messages = await asyncio.to_thread(self.feed.messages, start,
                                           min(self.window, self.backlog - pending))
        if not messages:
            return start
        end = messages[-1].position
        new = [NewDelivery(m.position, m.message_id, m.routing_key) for m in messages
               if subscription.wants(m.routing_key)]
        moved = await asyncio.to_thread(deliveries.advance, self.engine, webhook_id, start,
                                        end, new, self.retry_window)
        if not moved:
            log.warning("webhooks: position of %s moved elsewhere; re-reading it", webhook_id)
            return await asyncio.to_thread(deliveries.start_position, self.engine, webhook_id,
                                           start)
        return end

    async def _send_due(self, subscription: Subscription, client: httpx.AsyncClient) -> int:
        """One round: the due deliveries (up to `round_size`), their bodies read in one go,
        sent `concurrency` at a time, their outcomes written in one transaction."""
        # An endpoint that just failed gets small rounds: a round waits for its slowest
        # attempt (up to the timeout), and a pause is obeyed from the next round.
        size = self.round_size if subscription.healthy else self.concurrency
        rows = await asyncio.to_thread(deliveries.due, self.engine, subscription.id,
                                       time.time(), size, not subscription.active)
        if not rows:
            return 0
        bodies = await asyncio.to_thread(self._bodies, [int(row.position) for row in rows])
        secrets = await self._signing_secrets(subscription.id)
        gate = asyncio.Semaphore(self.concurrency)

        async def attempt(row: Any) -> Attempt:
            body = bodies.get(int(row.position))
            if body is None:
                return Attempt(False, None, "the event is no longer in the store", 0.0)
            async with gate:
                return await self._post(client, subscription.url, secrets, row.message_id,
                                        body)

        attempts = await asyncio.gather(*(attempt(row) for row in rows))
        subscription.healthy = all(item.ok for item in attempts)
        await self._record(subscription, list(zip(rows, attempts, strict=True)))
        return len(rows)

    def _bodies(self, positions: list[int]) -> dict[int, bytes]:
        """The envelope of each position, read from the store in as few reads as the
        positions allow (consecutive ones in one; scattered old retries one by one)."""
        wanted = set(positions)
        found: dict[int, bytes] = {}
        first, last = min(wanted), max(wanted)
        if last - first > SCAN_SPAN * len(wanted):
            spans = [(position - 1, position) for position in sorted(wanted)]
        else:
            spans = [(first - 1, last)]
        for after, until in spans:
            while after < until:
                messages = self.feed.messages(after, min(1000, until - after))
                if not messages:
                    break
                for message in messages:
                    if message.position in wanted:
                        found[message.position] = orjson.dumps(feed_entry(message))
                after = messages[-1].position
        return found

    async def _signing_secrets(self, webhook_id: str) -> list[str]:
        """Loaded from the aggregate (decrypted) again only when the subscription changed
        (a rotation: its read-model version moved) or a grace period ended."""
        version = await asyncio.to_thread(self._version, webhook_id)
        known = self._secrets.get(webhook_id)
        if known is None or known[0] != version or (
                known[1] is not None and clock.now().timestamp() >= known[1]):
            found, until = await asyncio.to_thread(signing_secrets, self.app, webhook_id)
            known = self._secrets[webhook_id] = (version, until, found)
        return known[2]

    def _version(self, webhook_id: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(w.version).where(w.id == webhook_id)).scalar()
                       or 0)

    async def _post(self, client: httpx.AsyncClient, url: str, secrets: list[str],
                    message_id: str, body: bytes) -> Attempt:
        started = time.perf_counter()
        headers = signing.headers(secrets, message_id, int(time.time()), body)
        try:
            target = parse_target(url, self.https_only)
            address = await connect_address(target, self.allow_private)
            request_url, extensions = url, {}
            if literal_address(target.host) is None and not self.allow_private:
                # Connect to the address just checked, not to a second resolution.
                request_url = _with_address(url, str(address))
                headers["host"] = urlsplit(url).netloc
                if target.scheme == "https":
                    extensions["sni_hostname"] = target.host
            response = await client.post(request_url, content=body, headers=headers,
                                         extensions=extensions)
        except TargetRefusedError as error:
            return Attempt(False, None, f"refused target: {error}", _since(started))
        except httpx.TimeoutException:
            return Attempt(False, None, f"timed out after {self.timeout:g} s", _since(started))
        except httpx.HTTPError as error:
            return Attempt(False, None, f"{type(error).__name__}: {error}"[:300],
                           _since(started))
        ok = 200 <= response.status_code < 300
        answered = None if ok else f"answered {response.status_code}"
        return Attempt(ok, response.status_code, answered, _since(started))

    async def _record(self, subscription: Subscription,
                      attempted: list[tuple[Any, Attempt]]) -> None:
        now = time.time()
        outcomes: list[Outcome] = []
        disable: tuple[str, Any, Attempt] | None = None
        for row, attempt in attempted:
            attempts = int(row.attempts) + 1
            next_at: float | None = None
            if attempt.ok:
                status = DELIVERED
                self.sent += 1
            elif attempt.status_code == 410:
                status = FAILED
                disable = disable or (GONE, row, attempt)
            elif row.manual:  # an operator's single retry: its failure disables nothing
                status = FAILED
            else:
                next_at = now + retry_delay(attempts, self.first_retry)
                if next_at > float(row.give_up_at):
                    status, next_at = FAILED, None
                    disable = disable or (FAILING, row, attempt)
                else:
                    status = PENDING
            outcomes.append(Outcome(row.id, status, attempts, attempt.status_code,
                                    attempt.error, attempt.duration, next_at,
                                    bool(row.manual) and status == PENDING))
            outcome = "delivered" if attempt.ok else ("failed" if status == FAILED
                                                       else "retry")
            for observer in self.observers:
                observer(subscription.id, outcome, attempt.duration)
        await asyncio.to_thread(deliveries.record, self.engine, outcomes)
        if disable is not None:
            reason, row, attempt = disable
            log.warning("webhooks: disabling %s (%s) after delivery %s", subscription.id,
                        reason, row.id)
            await asyncio.to_thread(disable_webhook, self.app, subscription.id, reason,
                                    row.id, attempt.status_code)
            subscription.active = False


def refresh(current: dict[str, Subscription], rows: list[Any]) -> None:
    """Bring `current` to the read model's rows, keeping what the sender learnt."""
    seen = {row.id for row in rows}
    for webhook_id in set(current) - seen:
        del current[webhook_id]
    for row in rows:
        fresh = Subscription.of(row)
        known = current.get(row.id)
        if known is None:
            current[row.id] = fresh
        else:
            known.url, known.events, known.active = fresh.url, fresh.events, fresh.active


def _since(started: float) -> float:
    return time.perf_counter() - started


def _with_address(url: str, address: str) -> str:
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def run(app: SavApplication, engine: Engine, settings: Settings,
        stop: threading.Event) -> None:
    """`sav worker webhooks` (and the in-process thread of `sav serve`)."""
    sender = WebhookSender(app, engine, settings)
    app.on_append(sender.wake)  # appends of this process are sent without a poll
    sender.run(stop)
