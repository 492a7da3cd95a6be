"""The one source of dreamweb's gunicorn settings: the Procfile, ``make run`` and bench/ use it.

gunicorn reads ``./gunicorn.conf.py`` from its working directory by default, so the Procfile's
``web: gunicorn wsgi:app`` needs no flags. Flags on the command line override these values: the
demo and the benchmarks bind to loopback ports and choose their worker count that way.
"""

import os

# The platform says which port to serve on; 8000 locally, like ``make run``.
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# The platform sets WEB_CONCURRENCY; without it one worker (gunicorn's own default).
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
# Threads, so a long video stream or a slow provider call does not hold a whole worker.
worker_class = "gthread"
threads = 8
timeout = 120
# Heroku-style platforms send SIGKILL 30 s after SIGTERM: finish what is in flight by then.
graceful_timeout = 30
keepalive = 5
accesslog = "-"  # stdout
errorlog = "-"  # stderr
# Load the app once in the master before forking: bad configuration stops it there, once.
preload_app = True
