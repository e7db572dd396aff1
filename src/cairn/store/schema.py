"""The metadata schema, SQLAlchemy Core. Alembic migrations in `migrations/` create it.

Times are UTC epoch seconds (double precision): portable across SQLite and PostgreSQL,
cheap to compare for time travel. A metric value of NULL means NaN, because SQLite stores
NaN as NULL.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("created", sa.Float, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),  # ULID: sortable by start time
    sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.id"), nullable=False),
    sa.Column("parent_id", sa.String(26), sa.ForeignKey("runs.id"), nullable=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started", sa.Float, nullable=False),
    sa.Column("ended", sa.Float, nullable=True),
    sa.Column("heartbeat", sa.Float, nullable=True),
    sa.Column("user", sa.String(255), nullable=True),
    sa.Column("host", sa.String(255), nullable=True),
    sa.Column("pid", sa.Integer, nullable=True),
    sa.Column("pid_started", sa.Float, nullable=True),  # tells a live pid from a reused one
    sa.Column("command", sa.Text, nullable=True),
    sa.Column("code_ref", sa.String(64), nullable=True),  # blob digest: git commit, branch, diff
    sa.Column("env_ref", sa.String(64), nullable=True),  # blob digest: python, packages, host
    sa.Column("error", sa.Text, nullable=True),  # traceback of a failed run
    sa.Index("ix_runs_experiment", "experiment_id", "started"),
    sa.Index("ix_runs_parent", "parent_id"),
    sa.Index("ix_runs_status", "status"),
)

params = sa.Table(
    "params",
    metadata,
    sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),  # JSON
    sa.Column("num", sa.Float, nullable=True),  # the value when it is a number, for filters
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("run_id", sa.String(26), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Index("ix_metrics_run_key_step", "run_id", "key", "step"),
)

latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    sa.Column("run_id", sa.String(26), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("ts", sa.Float, nullable=False),
)

blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("codec", sa.String(64), nullable=False),
    sa.Column("meta", sa.Text, nullable=False),  # JSON
    sa.Column("created", sa.Float, nullable=False),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), nullable=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("digest", sa.String(64), sa.ForeignKey("blobs.digest"), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("meta", sa.Text, nullable=True),  # JSON: a dataset's description, file count...
    sa.UniqueConstraint("name", "version", name="uq_artifacts_name_version"),
    sa.Index("ix_artifacts_run", "run_id"),
    sa.Index("ix_artifacts_name_created", "name", "created"),
    sa.Index("ix_artifacts_digest", "digest"),
)

lineage_edges = sa.Table(
    "lineage_edges",
    metadata,
    # Nodes are "artifact:ID" and "run:ID". src was derived from dst: an artifact
    # wasGeneratedBy its run, a run used an artifact. Upstream follows src -> dst.
    sa.Column("src", sa.String(64), primary_key=True),
    sa.Column("dst", sa.String(64), primary_key=True),
    sa.Column("relation", sa.String(32), nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Index("ix_lineage_edges_dst", "dst"),
)

step_cache = sa.Table(
    "step_cache",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),  # digest of code, inputs and params
    sa.Column("step", sa.String(255), nullable=False),
    sa.Column("artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=False),
    sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), nullable=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Index("ix_step_cache_step", "step"),
)

blob_links = sa.Table(
    "blob_links",
    metadata,
    # A blob that names other blobs, e.g. a file set's manifest and its files: gc keeps
    # the children of every blob it keeps.
    sa.Column("parent", sa.String(64), primary_key=True),
    sa.Column("child", sa.String(64), primary_key=True),
    sa.Index("ix_blob_links_child", "child"),
)

store_info = sa.Table(
    "store_info",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),  # "created": when the store began
    sa.Column("value", sa.Text, nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("actor", sa.String(255), nullable=True),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(255), nullable=False),
    sa.Column("detail", sa.Text, nullable=True),  # JSON
    sa.Index("ix_events_subject", "subject", "ts"),
    sa.Index("ix_events_actor", "actor", "ts"),
)

studies = sa.Table(
    "studies",
    metadata,
    # A hyperparameter search. Running `cairn.tune` again under the same name resumes the
    # latest version; `resume=False` starts version N+1 beside it.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("metric", sa.String(255), nullable=False),
    sa.Column("mode", sa.String(8), nullable=False),  # min | max
    sa.Column("sampler", sa.String(64), nullable=False),
    sa.Column("scheduler", sa.String(64), nullable=False),
    sa.Column("space", sa.Text, nullable=False),  # JSON: what the space says, for people
    sa.Column("fingerprint", sa.String(64), nullable=False),  # digest of the space
    sa.Column("created", sa.Float, nullable=False),
    sa.UniqueConstraint("name", "version", name="uq_studies_name_version"),
)

trials = sa.Table(
    "trials",
    metadata,
    sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), nullable=False),
    # running | completed | pruned | failed | killed | crashed
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("params", sa.Text, nullable=False),  # JSON
    sa.Column("distributions", sa.Text, nullable=False),  # JSON, Optuna's own format
    sa.Column("started", sa.Float, nullable=False),
    sa.Column("ended", sa.Float, nullable=True),
    sa.Index("ix_trials_run", "run_id"),
)

# The model registry. A model version's content is an artifact of kind "model"; these tables
# hold what the registry adds: owners, aliases and their history, gates, hooks.
models = sa.Table(
    "models",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("name", sa.String(255), sa.ForeignKey("models.name"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=False),
    sa.Column("flavor", sa.String(64), nullable=False),
    sa.Column("signature", sa.Text, nullable=True),  # JSON
    sa.Column("example", sa.String(64), nullable=True),  # blob digest of the example input
    sa.Column("owner", sa.String(255), nullable=False),  # the model's owner when registered
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), nullable=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("archived", sa.Float, nullable=True),  # when it was archived
    sa.Index("ix_model_versions_artifact", "artifact_id"),
)

model_tags = sa.Table(
    "model_tags",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),  # 0: a tag of the model itself
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("alias", sa.String(255), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)

alias_moves = sa.Table(
    "alias_moves",
    metadata,
    # Every move of an alias, so `as_of` can say where it pointed: `version` NULL is a delete.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("alias", sa.String(255), nullable=False),
    sa.Column("previous", sa.Integer, nullable=True),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("overridden", sa.Text, nullable=True),  # JSON: the gates a forced move overrode
    sa.Index("ix_alias_moves_name_alias_ts", "name", "alias", "ts"),
)

model_gates = sa.Table(
    "model_gates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("alias", sa.String(255), nullable=False),
    sa.Column("spec", sa.Text, nullable=False),  # JSON: the gate's kind and arguments
    sa.Column("created", sa.Float, nullable=False),
    sa.Index("ix_model_gates_name_alias", "name", "alias"),
)

hooks = sa.Table(
    "hooks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("events", sa.String(255), nullable=False),  # comma-separated HookEvent values
    sa.Column("secret", sa.String(128), nullable=False),  # the HMAC-SHA256 key
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("removed", sa.Float, nullable=True),  # kept: its deliveries refer to it
)

hook_deliveries = sa.Table(
    "hook_deliveries",
    metadata,
    # An outbox: a change writes its deliveries in its own transaction; a sender posts them.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("hook_id", sa.Integer, sa.ForeignKey("hooks.id"), nullable=False),
    sa.Column("event_id", sa.Integer, sa.ForeignKey("events.id"), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # JSON, exactly the bytes signed and sent
    sa.Column("status", sa.String(16), nullable=False),  # pending | delivered | failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt", sa.Float, nullable=False),
    sa.Column("response", sa.Integer, nullable=True),  # the last HTTP status
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("updated", sa.Float, nullable=False),
    sa.Index("ix_hook_deliveries_status", "status", "next_attempt"),
)

predictions = sa.Table(
    "predictions",
    metadata,
    # The sampled prediction log of `cairn serve`: a node of the lineage graph
    # ("prediction:ID" used the model version's artifact), written in batches off the hot path.
    sa.Column("id", sa.String(26), primary_key=True),  # ULID: sortable by time
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("inputs", sa.Text, nullable=False),  # JSON
    sa.Column("outputs", sa.Text, nullable=True),  # JSON
    sa.Column("latency_ms", sa.Float, nullable=True),
    sa.Column("route", sa.String(32), nullable=False),  # the router that chose the version
    sa.Column("shadow", sa.Boolean, nullable=False),  # a shadow's answer: logged, never returned
    sa.Column("fallback", sa.Boolean, nullable=False),  # the straggler default answered
    sa.Index("ix_predictions_name_version_ts", "name", "version", "ts"),
)

auth_keys = sa.Table(
    "auth_keys",
    metadata,
    # The workspace's root public keys: the current one, and retired ones still valid for a
    # grace period after a rotation. Private keys never enter the store.
    sa.Column("public_key", sa.String(128), primary_key=True),  # hex
    sa.Column("algorithm", sa.String(32), nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("retired", sa.Float, nullable=True),
    sa.Column("valid_until", sa.Float, nullable=True),  # a retired key's end of grace
)

revocations = sa.Table(
    "revocations",
    metadata,
    # Revocation ids of revoked tokens (one per block): every server refuses a token that
    # carries any of them.
    sa.Column("revocation_id", sa.String(256), primary_key=True),  # hex
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("subject", sa.String(255), nullable=True),  # whose token it was
    sa.Column("reason", sa.Text, nullable=True),
    sa.Index("ix_revocations_ts", "ts"),
)
