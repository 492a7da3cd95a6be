"""Completion webhooks: a job created with a ``callbackUrl`` is POSTed its final status.

    addresses   which callback URLs are allowed, and the checked IPs to connect to
    signing     Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature)
    sender      one POST to a checked IP with a short timeout
    outbox      the delivery state in the job record, the backoff schedule, delivery and sweep
    hooks       the few entry points the job lifecycle and the API call

Deliveries never run on a request thread: the job-finish path hands them to the background pool
(inline in the sweeper), and the sweeper retries due ones, so a web restart loses nothing.
"""
