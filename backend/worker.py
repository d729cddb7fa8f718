"""The arq worker: carries out outbox messages and runs the periodic jobs.

Job modules of other packages (``push.jobs``, ``payments.jobs``, …) register their outbox handlers
when imported; the worker imports the ones named in ``JOB_MODULES`` that exist, so ``backend``
never imports the packages that depend on it.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any, ClassVar

from arq import cron
from arq.connections import RedisSettings as ArqRedisSettings

from backend.devices.jobs import CRON_JOBS as DEVICE_CRON_JOBS
from backend.evaluation.jobs import CRON_JOBS as EVALUATION_CRON_JOBS
from backend.field.jobs import CRON_JOBS as FIELD_CRON_JOBS
from backend.jobs import sweep_deadlines
from backend.outbox.relay import JOB_NAME, process_message, relay_pending
from backend.places.jobs import CRON_JOBS as PLACES_CRON_JOBS
from backend.redis import arq_settings
from backend.runtime import Runtime
from backend.settings import get_settings

log = logging.getLogger("chengguan.worker")

JOB_MODULES = ["backend.cases.alarms", "push.jobs", "payments.jobs", "device_ingest.jobs", "backend.media.jobs"]


def load_job_modules(names: list[str] | None = None) -> list[str]:
    loaded = []
    for name in names or JOB_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the module exists but something it imports does not
                raise
            continue
        loaded.append(name)
    return loaded


async def process_outbox_message(ctx: dict[str, Any], message_id: str) -> str:
    runtime: Runtime = ctx["runtime"]
    return await process_message(runtime.session_factory, message_id)


async def relay_outbox(ctx: dict[str, Any]) -> int:
    """Safety net for messages whose after-commit kick was lost (a crashed API process)."""
    runtime: Runtime = ctx["runtime"]
    return await relay_pending(runtime.session_factory, runtime.arq)


async def startup(ctx: dict[str, Any]) -> None:
    ctx["runtime"] = await Runtime.start(get_settings(), relay=False)
    log.info("worker started with job modules %s", load_job_modules())


async def shutdown(ctx: dict[str, Any]) -> None:
    runtime: Runtime | None = ctx.get("runtime")
    if runtime is not None:
        await runtime.close()


process_outbox_message.__name__ = JOB_NAME


def redis_settings() -> ArqRedisSettings:
    url = get_settings().redis.url
    if url is None:
        raise RuntimeError("REDIS_URL is not set; `chengguan worker` starts the embedded services first")
    return arq_settings(url)


class WorkerSettings:
    functions: ClassVar[list[Any]] = [process_outbox_message]
    cron_jobs: ClassVar[list[Any]] = [
        cron(relay_outbox, second=set(range(0, 60, 5)), unique=True, timeout=30),
        cron(sweep_deadlines, second={30}, unique=True, timeout=120),
        *DEVICE_CRON_JOBS,
        *FIELD_CRON_JOBS,
        *EVALUATION_CRON_JOBS,
        *PLACES_CRON_JOBS,
    ]
    on_startup = startup
    on_shutdown = shutdown
    max_tries = 10
    job_timeout = 300
    keep_result = 24 * 3600  # a duplicate enqueue of the same outbox id is refused for a day
