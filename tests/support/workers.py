"""Each worker built from the test's services, with only the parts it takes."""

from __future__ import annotations

from typing import Any

from sav.bootstrap import Services
from sav.workers.consumer import Consumer
from sav.workers.publisher import Publisher
from sav.workers.scheduler import Jobs


def jobs_of(services: Services) -> Jobs:
    return Jobs(services.app, services.engine, services.read_model, services.settings)


def publisher_of(services: Services, **options: Any) -> Publisher:
    return Publisher(services.app, services.engine, services.settings, **options)


def consumer_of(services: Services, **options: Any) -> Consumer:
    return Consumer(services.app, services.read_model, services.settings, **options)
