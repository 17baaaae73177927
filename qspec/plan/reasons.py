"""``Reason``: why ``diff`` made a plan item, as a code that decisions read instead of the text.

Every ``PlanItem`` carries one (``PlanItem.code``) next to its human ``reason``; status, rendering
and apply branch on the code, never on the wording, so rewording a reason cannot change a
decision. One code per situation ``diff`` tells apart (one per reason it writes). Its own module
because ``Stage`` (``qspec.plan.state``) carries the code of its error, and ``qspec.plan.actions``
imports that module; ``qspec.plan.actions`` re-exports it.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    # --- a model --------------------------------------------------------------------------------
    MODEL_UNMANAGED = "model-unmanaged"  # a registered model of that name that qspec does not manage
    MODEL_MISSING = "model-missing"  # git declares a Model the registry does not have: create it
    DESCRIPTION_CHANGED = "description-changed"  # the Model's description differs from the registered one
    # --- a build (one spec hash a model needs a version of) ------------------------------------------
    NO_RUN = "no-run"  # never trained: train
    EXPERIMENT_UNTRAINED = "experiment-untrained"  # an Experiment no Model registers has no finished run
    LAST_RUN_FAILED = "last-run-failed"  # only failed or killed runs: train again
    # A run is RUNNING: apply waits for it while its apply's claim is live, else (the claim expired:
    # that apply died) marks it FAILED and trains again. The plan cannot tell which; apply checks.
    RUN_RUNNING = "run-running"
    AFTER_TRAINING = "after-training"  # register the run this plan trains
    RUN_PASSED = "run-passed"  # a finished run met the requirements: register it
    REQUIREMENT_NOT_MET = "requirement-not-met"  # the finished run missed them: blocked
    BUDGET_EXCEEDED = "budget-exceeded"  # the estimate does not fit the experiment's budget: blocked
    CREDENTIALS_MISSING = "credentials-missing"  # the target needs an account that is not configured: blocked
    MEMORY_EXCEEDED = "memory-exceeded"  # the training's peak memory exceeds what it may use: blocked
    DUPLICATE_VERSION = "duplicate-version"  # a second version of one hash (two applies raced): delete it
    # A managed run is RUNNING and this plan does not train its spec (a FINISHED run of it exists, or the
    # spec is no longer declared): its apply is gone unless that apply's claim is live. Apply closes it
    # as FAILED holding the spec's claim, and leaves it alone while another apply's claim is live.
    RUN_ABANDONED = "run-abandoned"
    # --- a stage (an alias git declares) --------------------------------------------------------------
    REF_UNRESOLVED = "ref-unresolved"  # its ref cannot be read
    STAGE_DECLARED_TWICE = "stage-declared-twice"  # two Deployments declare the alias
    VERSION_MISSING = "version-missing"  # ``version: N`` names no usable version
    BUILD_BLOCKED = "build-blocked"  # its build is blocked, so there is no version to point at
    GATE_FAILED = "gate-failed"  # the version's metrics fail the stage's gates
    ALIAS_DECLARED = "alias-declared"  # git declares the alias at another version: set or move it
    HEAL_DRIFT = "heal-drift"  # the same, and it undoes an alias moved or deleted by hand
    ALIAS_RECORD_MISSING = "alias-record-missing"  # alias in place, qspec's record of it missing or stale
    # --- how a stage is served (its ``qspec.serving.<stage>`` tag) -----------------------------------
    SERVING_DECLARED = "serving-declared"  # git declares serving for a stage that has no record of it
    SERVING_CHANGED = "serving-changed"  # the record differs from git's serving block (git or a hand changed it)
    SERVING_REMOVED = "serving-removed"  # git no longer declares serving for the stage: remove the record
    SERVING_UNSERVABLE = "serving-unservable"  # the stage's version cannot run on its serving target (a ref stage)
    # --- drift: the registry changed without git ---------------------------------------------------
    ALIAS_MOVED_BY_HAND = "alias-moved-by-hand"
    ALIAS_DELETED_BY_HAND = "alias-deleted-by-hand"
    UNDECLARED_ALIAS = "undeclared-alias"  # git does not declare this stage of a managed model
    MODEL_UNDECLARED = "model-undeclared"  # an alias of a managed model git no longer declares
    MANAGED_TAGS_EDITED = "managed-tags-edited"  # a version's qspec tags differ from its run's
    RESTORE_TAGS = "restore-tags"  # set them back to the run's

    @property
    def prunable(self) -> bool:
        """An alias git does not declare: reported as drift, deleted only with ``--prune``."""
        return self in (Reason.UNDECLARED_ALIAS, Reason.MODEL_UNDECLARED)
