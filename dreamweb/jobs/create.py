"""Starting a generation: the create path of ``JobService`` (circuit check, idempotency claim,
budget reservation, the record written before the paid call, and cleanup when it fails).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from dreamweb.errors import (
    AuthenticationError,
    BudgetExhaustedError,
    CircuitOpenError,
    InputRejectedError,
    ProviderError,
    ProviderShedError,
    QuotaExhaustedError,
    RateLimitedError,
)
from dreamweb.jobs.idempotency import IdempotencyKeys
from dreamweb.jobs.ingest import require_provider
from dreamweb.jobs.model import FailureCode, Job, first_answer, new_job_id
from dreamweb.prompts import enhance_prompt
from dreamweb.storage import layout

if TYPE_CHECKING:  # the service imports this module: the type only, no cycle at run time
    from dreamweb.jobs.service import JobService

logger = logging.getLogger("dreamweb.jobs")

# Errors that prove the provider started nothing: the create can be forgotten entirely.
NOT_STARTED = (
    InputRejectedError,
    RateLimitedError,
    QuotaExhaustedError,
    AuthenticationError,
    ProviderShedError,
)


def create_job(
    service: JobService,
    prompt: str,
    *,
    seconds: str,
    size: str,
    idempotency_key: str | None,
    client: str,
    token_hash: str | None,
) -> tuple[Job, bool]:
    """``JobService.create`` (see there): returns ``(job, replayed)``."""
    provider = require_provider(service.provider)
    paused = service.provider_paused_for()
    if paused is not None:
        # Failing provider: answer at once, before any record, key or upstream call.
        raise CircuitOpenError(retry_after=paused)
    job = Job(
        id=new_job_id(),
        provider=provider.name,
        prompt=prompt,
        enhanced_prompt=enhance_prompt(prompt, service.config["PROMPT_TEMPLATE"]),
        model=service.config["VIDEO_MODEL"],
        seconds=seconds,
        size=size,
        created_at=service.clock(),
        updated_at=service.clock(),
        token_hash=token_hash,
    )
    claim = None
    if idempotency_key is not None:
        keys = IdempotencyKeys(service.records, idempotency_key, client)
        first, claim = keys.claim(job)
        if first is not None:
            return first, True
    try:  # after the claim: a replay spends nothing; before the paid call
        reservation = service.budget.reserve(int(job.seconds), client)
    except BudgetExhaustedError:
        if claim is not None:
            keys.release(claim)  # refused before anything started: a retry may try again
        raise
    # Record and sweeper marker exist before the paid call: a crash leaves a trace.
    created = service.records.write(job, generation=None)
    service.store.put_record(layout.active_key(job.id), {"id": job.id}, generation=None)
    try:
        upstream = provider.create(
            job.enhanced_prompt,
            job_id=job.id,
            model=job.model,
            seconds=job.seconds,
            size=job.size,
            callback_url=service.callback_url(job.id) if service.callback_url else None,
        )
    except NOT_STARTED:
        service.budget.give_back(reservation)  # nothing started, nothing spent
        service.records.remove(job.id)  # no job was started upstream: nothing to keep
        if claim is not None:
            keys.release(claim)
        raise
    except ProviderError as error:
        # The request may have reached the provider and started a job we cannot see: keep
        # the record (failed, with the reason) and the key, so a retry cannot pay twice.
        service.records.fail(job.id, FailureCode.SUBMIT_UNCONFIRMED)
        if claim is not None:
            keys.settle(claim, error=error)
        raise
    now = service.clock()
    job = service.records.update(job.id, lambda j: first_answer(j, upstream, now), created)
    if claim is not None:
        keys.settle(claim)
    logger.info("job created", extra={"job_id": job.id, "model": job.model})
    return job, False
