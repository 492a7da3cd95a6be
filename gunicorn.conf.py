"""The one source of dreamweb's gunicorn settings: the Procfile, ``make run`` and bench/ use it.

gunicorn reads ``./gunicorn.conf.py`` from its working directory by default, so the Procfile's
``web: gunicorn wsgi:app`` needs no flags. Flags on the command line override these values: the
demo and the benchmarks bind to loopback ports and choose their worker count that way.
"""

import os

# gevent workers (issue 10): every connection is a greenlet, so slow readers, slowloris and
# slow request bodies cost a few KiB each instead of one of a handful of threads. The patch
# must come before ``preload_app`` imports the app (and requests, google-auth, threading):
# locks and sockets created before it would block the whole worker. This file is read by
# gunicorn before it loads the app. Consequence: these settings are for gevent workers only
# (overriding --worker-class on the command line needs another config file).
import gevent
from gevent import monkey

monkey.patch_all()

# The platform says which port to serve on; 8000 locally, like ``make run``.
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# The platform sets WEB_CONCURRENCY; without it one worker (gunicorn's own default).
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
worker_class = "gevent"
# Open connections per worker (streams, polls, idle keep-alives, slow clients alike); past it
# the worker stops accepting until one closes.
worker_connections = 1000
# With gevent this is not a request timeout: the master restarts a worker whose event loop has
# not come round for this long (a CPU-bound or blocking call). Requests are never killed.
timeout = 30
# Heroku-style platforms send SIGKILL 30 s after SIGTERM: finish what is in flight by then.
graceful_timeout = 30
# With gevent workers this bounds both an idle keep-alive connection and the time a client
# may take to send a request's line and headers (gunicorn reads them under a gevent.Timeout of
# this length): a slowloris connection is closed after 5 s.
keepalive = 5
accesslog = "-"  # stdout
errorlog = "-"  # stderr
# Load the app once in the master before forking: bad configuration stops it there, once.
preload_app = True


def pre_fork(server, worker):
    """Let the master's greenlets finish before a fork copies them, half run, into a worker.

    Threads started while the app was preloaded are greenlets here (the master is patched);
    limits' in-memory storage starts a 10 ms expiry timer, which would otherwise end in the
    worker with a KeyError traceback from ``threading``.
    """
    gevent.sleep(0.05)


# gunicorn 25+ opens a control socket at one fixed per-user path: every gunicorn on the host
# (a second app, the benchmarks, the tests' servers) would fight over it, and the platform's
# process manager, not gunicornc, is what starts and stops dyno processes.
control_socket_disable = True
