"""rowrelay's entry points: the batch flow, its deployment, and the `rowrelay` CLI.

Prefect reads its settings when first imported, so the defaults it needs here are set before any
module of this package imports it: the ephemeral server migrates a fresh database at first start,
which can take longer than its 20 s default on a busy 2-core machine, and an offline machine should
not try to send telemetry. Anything already set in the environment wins.
"""

import os

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
