"""qspec's vocabulary in MLflow: every tag name and run status qspec writes or reads, defined once.

The tags are how qspec joins git to the registry with no state file (docs/architecture.md,
"Identity"): ``plan`` finds what exists by them, ``apply`` writes them, ``tracking`` stamps runs and
logged models with them. Pure constants: imported by every layer, importing nothing.
"""

from __future__ import annotations

#: The prefix of every qspec tag; tags under it are the ones qspec owns on runs and versions.
PREFIX = "qspec."

# --- identity: runs, logged models and versions carry all of these ---------------------------------
MANAGED = "qspec.managed"  # "true" on everything qspec made (and on registered models it manages)
SPEC_HASH = "qspec.spec_hash"
SPEC_NAME = "qspec.spec_name"
SPEC_PATH = "qspec.spec_path"
GIT_COMMIT = "qspec.git_commit"
GIT_DIRTY = "qspec.git_dirty"  # "true" when trained from uncommitted specs (--allow-dirty)

#: Version tags that must equal the tags of the run the version was built from; a run's tags are
#: immutable in practice, so a version whose tags differ was edited by hand (drift).
VERSION_TAGS_FROM_RUN = (MANAGED, SPEC_HASH, SPEC_NAME, SPEC_PATH, GIT_COMMIT, GIT_DIRTY)

# --- runs ---------------------------------------------------------------------------------------------
MODEL_ID = "qspec.model_id"  # the MLflow 3 logged model of a run; a version registers that model
ERROR = "qspec.error"  # why a FAILED run failed
VERSION = "qspec.version"  # the qspec release that trained the run
LABEL_PREFIX = "qspec.label."  # metadata.labels of the spec, one tag each

# --- versions -----------------------------------------------------------------------------------------
RUN_ID = "qspec.run_id"

# --- registered models ----------------------------------------------------------------------------------
#: ``qspec.alias.<alias> = <version>`` records where qspec last pointed an alias: how a plan tells
#: "git changed" (record == alias) from "moved by hand" (record != alias).
ALIAS_PREFIX = "qspec.alias."

#: ``qspec.serving.<stage> = <canonical JSON>`` is how the stage is served (the Deployment's
#: ``stages.<stage>.serving``, as ``ServingSpec.canonical`` writes it): what ``plan`` diffs and
#: ``qspec render`` / ``qspec serve`` read. Absent: the stage declares no serving.
SERVING_PREFIX = "qspec.serving."

# --- monitoring (qspec monitor) -------------------------------------------------------------------------
MONITORING = "qspec.monitoring"  # "true" on a monitoring run (never managed: no training of any spec)
MONITOR_MODEL = "qspec.monitor.model"  # a monitoring run's model, version, stage (alias) and target
MONITOR_VERSION = "qspec.monitor.version"
MONITOR_STAGE = "qspec.monitor.stage"
MONITOR_TARGET = "qspec.monitor.target"
MONITOR_VERDICT = "qspec.monitor.verdict"  # ok | performance_drift | hardware_drift (comma-separated)
#: On a version: the drift its last monitoring found (``performance_drift``, ``hardware_drift``).
ALERT = "qspec.alert"
#: ``qspec.monitor.<stage>`` on a registered model: the last verdict of that stage (JSON, see
#: ``qspec.monitor.verdict.MonitorRecord``), which ``qspec status`` shows with its age.
MONITOR_RECORD_PREFIX = "qspec.monitor."

# --- claims: one training per spec hash at a time (qspec.apply.claims) -------------------------------
#: A claim is a registered model named ``qspec-claim.<spec hash>.<generation>``: MLflow refuses a
#: second model of one name, which makes taking a claim atomic. ``snapshot`` never shows them.
CLAIM_MODEL_PREFIX = "qspec-claim."
CLAIM = "qspec.claim"  # "true" on every claim model
CLAIM_HASH = "qspec.claim.hash"  # the spec hash it claims
CLAIM_HOLDER = "qspec.claim.holder"  # who holds it: host, pid and a random id of one apply
CLAIM_PROCESS = "qspec.claim.process"  # the holder's process identity, to tell a dead local holder
CLAIM_EXPIRES = "qspec.claim.expires"  # epoch seconds the lease runs to; "0": released after a failure
CLAIM_RUN_ID = "qspec.claim.run_id"  # the run the holder is training, once it exists

TRUE = "true"

# --- MLflow run statuses qspec acts on ---------------------------------------------------------------
RUN_FINISHED = "FINISHED"
RUN_RUNNING = "RUNNING"
RUN_FAILED = "FAILED"
RUN_KILLED = "KILLED"


def alias_record(alias: str) -> str:
    """The registered-model tag that records where qspec last pointed ``alias``."""
    return ALIAS_PREFIX + alias


def serving_record(stage: str) -> str:
    """The registered-model tag that holds how ``stage`` is served."""
    return SERVING_PREFIX + stage

def monitor_record(stage: str) -> str:
    """The registered-model tag that keeps the last monitoring verdict of ``stage``."""
    return MONITOR_RECORD_PREFIX + stage


def is_monitoring_tag(key: str) -> bool:
    """A tag ``qspec monitor`` writes on models and versions (a verdict, an alert): a record of
    what was observed, never part of what a plan reads or changes."""
    return key == ALERT or key.startswith(MONITOR_RECORD_PREFIX)


def claim_model_name(spec_hash: str, generation: int) -> str:
    """The registered model that is generation ``generation`` of the claim on ``spec_hash``."""
    return f"{CLAIM_MODEL_PREFIX}{spec_hash}.{generation}"


def is_claim_model(name: str) -> bool:
    return name.startswith(CLAIM_MODEL_PREFIX)


def is_qspec_tag(key: str) -> bool:
    return key.startswith(PREFIX)
