"""`python -m dramatiq workers.actors` imports the module with nothing but the
environment: the broker must follow REDIS_URL, and importing must not need Redis up."""

from __future__ import annotations

import os
import subprocess
import sys

from accounting import jobs

PROBE = (
    "import dramatiq, workers.actors; b = dramatiq.get_broker(); "
    "print(type(b).__name__, ' '.join(sorted(b.actors)), ' '.join(sorted(b.get_declared_queues())), sep='|')"
)


def test_importing_the_actors_configures_the_broker_from_the_environment() -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    cases = {
        "StubBroker": env,
        "RedisBroker": {**env, "REDIS_URL": "redis://127.0.0.1:1/0"},
    }  # nothing on port 1
    probes = {
        broker: subprocess.Popen(
            [sys.executable, "-c", PROBE],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for broker, environment in cases.items()
    }

    for broker, probe in probes.items():
        out, err = probe.communicate(timeout=60)
        assert probe.returncode == 0, err
        kind, actors, queues = out.strip().split("|")
        assert kind == broker
        assert actors.split() == sorted(jobs.ACTORS)
        assert [q for q in queues.split() if not q.endswith(".DQ")] == ["accounting", "notifications"]
