"""`cairn serve` on a Ray cluster: a Ray Serve deployment whose ingress is the same ASGI app
(`ServeApp`) the Uvicorn server runs, one per replica.

    import ray
    from ray import serve

    from cairn.serve.ray_deployment import deployment
    from cairn.serve.settings import ServeSettings

    ray.init(address="auto")
    serve.start(http_options={"host": "127.0.0.1", "port": 8000})
    serve.run(deployment(ServeSettings(("digits@production",)), num_replicas=4))

Ray Serve's proxy then answers the routes `cairn serve` answers (`/v1/models/{name}/predict`,
`/v2/...`, `/invocations`, `/health/...`). Serve the application at the route prefix "/"
(`serve.run`'s default): the v1 route is matched on the request's path as it arrives.

Each replica builds the app from the environment, as a Uvicorn worker does: the settings, and
the workspace the caller is using (CAIRN_STORE, CAIRN_BLOBS), travel in the deployment's
runtime_env. On more than one node that workspace must be reachable from every node
(PostgreSQL and S3, or a shared filesystem), not a SQLite file on the caller's disk.

A replica is a whole server: it loads and warms up the models before Ray reports it healthy,
batches the requests it is given, keeps its own cache and prediction-log writer, follows alias
moves, and `/metrics` shows the replica that answered.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cairn.config import find_workspace
from cairn.serve.app import create_app
from cairn.serve.server import check
from cairn.serve.settings import ServeSettings
from cairn.store.blobs import KEY_VARIABLE

if TYPE_CHECKING:
    from ray.serve import Application


def deployment(
    settings: ServeSettings,
    *,
    num_replicas: int = 1,
    name: str = "cairn",
    ray_actor_options: Mapping[str, Any] | None = None,
) -> Application:
    """A bound Ray Serve application serving `settings` on `num_replicas` replicas.

    Bad settings, or a model or alias that does not exist, fail here, before anything is
    deployed. `ray_actor_options` (e.g. {"num_cpus": 2}) are passed to every replica; their
    runtime_env env_vars are kept alongside the ones the replicas need.
    """
    from ray import serve

    check(settings)
    workspace = find_workspace()
    options = dict(ray_actor_options or {})
    runtime_env = dict(options.get("runtime_env") or {})
    runtime_env["env_vars"] = {
        **runtime_env.get("env_vars", {}),
        **settings.to_env(),
        "CAIRN_STORE": workspace.store_url,
        "CAIRN_BLOBS": workspace.blobs_url,
        # An encrypted workspace's keys (or the key file's path, which every node must see).
        **({KEY_VARIABLE: os.environ[KEY_VARIABLE]} if os.environ.get(KEY_VARIABLE) else {}),
    }
    options["runtime_env"] = runtime_env
    ingress = serve.deployment(
        serve.ingress(create_app)(),
        name=name,
        num_replicas=num_replicas,
        ray_actor_options=options,
        # Ray's default (5 requests at a time) would cap the batches the replica can form;
        # the app refuses what it cannot answer within the SLO itself (503, Retry-After).
        max_ongoing_requests=settings.max_batch,
    )
    return ingress.bind()
