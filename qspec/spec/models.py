"""The spec language (README, "The spec language") as frozen pydantic models: Experiment, Model, Deployment.

These models check each field on its own (types, ranges, enums, unknown keys). The names a spec
may give a feature map, an ansatz, an optimizer or a backend target are those of the plug-in
tables (``qspec.plugins``): the enums, the optimizer union and the JSON Schema are built from
them, so an unknown name is a validation error with a hint, never a fall-through. Checks that
relate several fields or several documents (features against qubits, a Model naming an
Experiment) live in ``qspec.spec.checks`` so that each problem can point at its own key.
Imported by the loader, the hasher, the planner and the quantum engine; imports nothing heavy.
"""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from qspec.spec.devices import FAKE_DEVICES
from qspec.tags import LABEL_PREFIX

API_VERSION = "qspec/v1"
KINDS = ("Experiment", "Model", "Deployment")

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"

#: Final metrics each task produces; requirements, gates and monitoring may name only these.
METRICS_BY_TASK: dict[str, frozenset[str]] = {
    "classification": frozenset({"train_accuracy", "test_accuracy", "loss"}),
    "vqe": frozenset({"energy", "energy_error", "fidelity", "loss"}),
}
ALL_METRICS = frozenset().union(*METRICS_BY_TASK.values())

#: What ``qspec monitor`` measures per task, and the rule kinds each metric takes: ``max_drop`` and
#: ``min`` for a metric where higher is better, ``max_increase`` for one where lower is better,
#: ``max_ratio`` (current / baseline) for a cost. ``latency_ms`` and ``cost_usd`` are per prediction.
MONITOR_RULES: dict[str, dict[str, tuple[str, ...]]] = {
    "classification": {"accuracy": ("max_drop", "min"), "mean_confidence": ("max_drop", "min"),
                       "loss": ("max_increase",), "latency_ms": ("max_ratio",), "cost_usd": ("max_ratio",)},
    "vqe": {"energy_error": ("max_increase",), "energy": ("max_increase",), "latency_ms": ("max_ratio",),
            "cost_usd": ("max_ratio",)},
}
MONITOR_METRICS = frozenset().union(*MONITOR_RULES.values())

#: The data sets scikit-learn ships: number of features and the class labels of each.
SKLEARN_DATASETS: dict[str, tuple[int, tuple[str, ...]]] = {
    "iris": (4, ("setosa", "versicolor", "virginica")),
    "wine": (13, ("class_0", "class_1", "class_2")),
    "breast_cancer": (30, ("malignant", "benign")),
}

#: Rows per class of the scikit-learn sets (fixed within scikit-learn), for the split checks.
SKLEARN_CLASS_ROWS: dict[str, tuple[int, ...]] = {
    "iris": (50, 50, 50),
    "wine": (59, 71, 48),
    "breast_cancer": (212, 357),
}

# --- base: what plug-in modules may import (all defined before the plug-in tables are read) ---

# What the engine can run (README, "Limits"). A spec that validates must be runnable: every count
# is bounded here, with the limit in the field's description, which the loader shows as the hint.

#: Seeds are 0 .. 2**32 - 1: the range numpy, scikit-learn (``random_state``) and Aer all accept.
SEED_MAX = 2**32 - 1
#: Repetitions of an ansatz or a feature map.
MAX_REPS = 100
#: Trained parameters of an ansatz (``weights(qubits, reps)``): each costs a parameter-shift pair.
MAX_WEIGHTS = 4096
#: Optimizer iterations (``maxiter``); exact training has no shot budget to stop it.
MAX_ITERATIONS = 100_000
#: Shots per circuit execution.
MAX_SHOTS = 1_000_000
#: USD per QPU second (IBM Quantum lists 1.6).
MAX_PRICE_PER_SECOND = 10_000.0
#: Largest size of a Hamiltonian coefficient or constant (squares stay far from overflow).
MAX_COEFFICIENT = 1e6
#: Coefficients no larger than this are dropped by Qiskit's primitives (``SparsePauliOp.simplify``).
MIN_COEFFICIENT = 1e-8

SEED_HINT = f"a seed is an integer from 0 to {SEED_MAX} (2**32 - 1), the range numpy, scikit-learn and Aer accept"

StrictInt = Annotated[int, Field(strict=True)]
PositiveInt = Annotated[int, Field(strict=True, ge=1)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Seed = Annotated[int, Field(strict=True, ge=0, le=SEED_MAX)]

#: The longest value of a spec that an error message repeats.
SHOWN_CHARACTERS = 40


def shown(value: object) -> str:
    """A spec value as an error message may repeat it: its repr when short, else what it is."""
    text = repr(value)
    if len(text) <= SHOWN_CHARACTERS:
        return text
    if isinstance(value, str):
        return f"a string of {len(value):,} characters"
    return f"a {type(value).__name__} too long to show"


def spec_error(message: str, hint: str | None = None) -> PydanticCustomError:
    """A validation error whose hint survives into the rendered Problem."""
    return PydanticCustomError("qspec", message, {"hint": hint} if hint else {})


class SpecModel(BaseModel):
    """Base of every spec model: immutable, strict types, unknown keys refused."""

    # allow_inf_nan=False: .nan and .inf have no meaning in any float of a spec (and cannot be hashed).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True, allow_inf_nan=False)


def did_you_mean(word: str, choices: Any, prefix: str = "") -> str | None:
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {prefix}{close[0]}?" if close else None


def fake_device(device: str) -> str:
    """The name of a fake device (``manila``) from how a spec writes it (``manila``, ``fake_manila``)."""
    name = device.removeprefix("fake_")
    if name not in FAKE_DEVICES:
        raise spec_error(
            f"unknown fake device {shown(device)}",
            did_you_mean(name, FAKE_DEVICES, "fake:")
            or "fake devices are qiskit-ibm-runtime's snapshots, e.g. fake:manila, fake:torino",
        )
    return name


# --- the plug-in tables -----------------------------------------------------------------------
# Read here, after the base above: plug-in modules import it (optimizer options are SpecModels).

from qspec.plugins import ansatze as ansatz_plugins  # noqa: E402
from qspec.plugins import feature_maps as feature_map_plugins  # noqa: E402
from qspec.plugins import optimizers as optimizer_plugins  # noqa: E402
from qspec.plugins import targets as target_plugins  # noqa: E402
from qspec.plugins.optimizers import OptimizerOptions  # noqa: E402
from qspec.plugins.targets import Target  # noqa: E402

if TYPE_CHECKING:
    AnsatzType = str
    FeatureMapType = str
    OptimizerSpec = OptimizerOptions
else:  # Literal enums: pydantic's "input should be ..." errors, and enums in the JSON Schema
    AnsatzType = Literal[tuple(ansatz_plugins.plugins())]
    FeatureMapType = Literal[tuple(feature_map_plugins.plugins())]
    # each optimizer's own options, told apart by ``name`` ("unknown name 'adamw'" otherwise)
    OptimizerSpec = Annotated[Union[tuple(o.options for o in optimizer_plugins.plugins().values())],  # noqa: UP007
                              Field(discriminator="name")]

#: The optimizer of a spec that names none.
DEFAULT_OPTIMIZER = "cobyla"

#: The entanglement an entangling feature map uses when the spec names none.
DEFAULT_ENTANGLEMENT = "linear"


class Bound(SpecModel):
    """A threshold on a metric: ``{min: 0.9}``, ``{max: 0.01}`` or both."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_side(self) -> Bound:
        if self.min is None and self.max is None:
            raise spec_error("a bound needs min, max or both", "write {min: 0.9} or {max: 0.01}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise spec_error(f"min {self.min} is greater than max {self.max}", "swap them: no value can meet both")
        return self

    def admits(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def describe(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        return " and ".join(parts)


#: What MLflow stores (its SQL store's columns and tag-name rule): a registered model's
#: description, a run tag's key (``qspec.label.<key>``) and value, an experiment's name.
MAX_DESCRIPTION = 5000
MAX_TAG_NAME = 250
MAX_LABEL_KEY = MAX_TAG_NAME - len(LABEL_PREFIX)
MAX_LABEL_VALUE = 8000
MAX_EXPERIMENT_NAME = 500
LABEL_KEY_PATTERN = r"^[/\w.\- :]*$"


class Metadata(SpecModel):
    name: str = Field(pattern=NAME_PATTERN, max_length=63)
    description: str | None = Field(
        default=None, max_length=MAX_DESCRIPTION,
        description=f"at most {MAX_DESCRIPTION:,} characters, what MLflow stores of a model's description")
    labels: dict[str, Annotated[str, Field(max_length=MAX_LABEL_VALUE)]] = Field(
        default={}, description=f"labels become MLflow run tags: values of at most {MAX_LABEL_VALUE:,} characters")

    @field_validator("labels")
    @classmethod
    def _tag_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            tag = LABEL_PREFIX + key  # MLflow's rule for tag names, on the tag qspec writes
            if not re.match(LABEL_KEY_PATTERN, tag) or len(tag) > MAX_TAG_NAME or posixpath.normpath(tag) != tag:
                raise spec_error(
                    f"label {shown(key)} cannot be an MLflow tag name",
                    f"use letters, digits, '_', '-', '.', ' ', ':' and '/' (at most {MAX_LABEL_KEY}), "
                    "and no empty, '.' or '..' parts between slashes")
        return value

    @field_validator("name", mode="before")
    @classmethod
    def _dns_label(cls, value: Any) -> Any:
        if isinstance(value, str) and not re.match(NAME_PATTERN, value):
            suggestion = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")[:63] or "my-name"
            raise spec_error(
                f"name {shown(value)} is not a DNS label (lower-case letters, digits and '-', at most 63)",
                f"use {suggestion!r}" if len(value) <= SHOWN_CHARACTERS
                else "use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit",
            )
        return value


# --- Experiment -------------------------------------------------------------------------------


class DataSpec(SpecModel):
    source: str
    classes: list[StrictInt | str] = Field(
        min_length=2, max_length=2,
        description="two different class labels, by index or name, e.g. [0, 1] or [setosa, versicolor]")
    features: PositiveInt | None = None
    test_fraction: float = Field(default=0.3, gt=0, lt=1,
                                 description="the share of rows held out for testing, strictly between 0 and 1")
    seed: Seed = Field(default=0, description=SEED_HINT)
    target: str | None = None  # csv only: the label column (default: the last column)

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        if value.startswith("sklearn:"):
            name = value.removeprefix("sklearn:")
            if name not in SKLEARN_DATASETS:
                raise spec_error(
                    f"unknown scikit-learn data set {shown(name)}",
                    did_you_mean(name, SKLEARN_DATASETS, "sklearn:")
                    or "one of: " + ", ".join(f"sklearn:{n}" for n in SKLEARN_DATASETS),
                )
            return value
        if value.startswith("csv:"):
            path = value.removeprefix("csv:")
            normal = posixpath.normpath(path) if path else ""
            if not path or path.startswith("/") or re.match(r"^[A-Za-z]:", path):
                raise spec_error(
                    f"csv path {shown(path)} must be relative to the repository",
                    "write csv:data/my-set.csv",
                )
            if normal == ".." or normal.startswith("../"):
                raise spec_error(
                    f"csv path {shown(path)} leaves the repository",
                    "keep data files inside the repository so that git versions them",
                )
            if ".git" in normal.split("/"):
                raise spec_error(
                    f"csv path {shown(path)} is inside .git/, git's own files, not a data set",
                    "point csv: at a data file that git tracks, e.g. csv:data/my-set.csv",
                )
            return "csv:" + normal
        raise spec_error(
            f"unknown data source {shown(value)}",
            "use sklearn:iris, sklearn:wine, sklearn:breast_cancer or csv:<path in the repository>",
        )

    @field_validator("classes")
    @classmethod
    def _distinct(cls, value: list[int | str]) -> list[int | str]:
        if len(set(value)) != len(value):
            raise spec_error("classes must be two different labels", "name two different classes, e.g. [0, 1]")
        return value

    @property
    def dataset(self) -> str | None:
        """The scikit-learn data set name, or None for csv sources."""
        return self.source.removeprefix("sklearn:") if self.source.startswith("sklearn:") else None

    @property
    def csv_path(self) -> str | None:
        return self.source.removeprefix("csv:") if self.source.startswith("csv:") else None


REPS_HINT = (f"at most {MAX_REPS} repetitions: deeper circuits do not build or train in any time a plan can "
             "wait for")


#: Largest feature scale: the train range maps onto scale x the map's angle range (README, "Limits").
MAX_FEATURE_SCALE = 100.0


class FeatureMapSpec(SpecModel):
    type: FeatureMapType
    reps: PositiveInt = Field(default=1, le=MAX_REPS, description=REPS_HINT)
    entanglement: Literal["linear", "full", "circular"] | None = None
    scale: float = Field(
        default=1.0, gt=0, le=MAX_FEATURE_SCALE,
        description="feature scaling: each feature's train range maps onto scale x the feature map's angle range "
                    "(angle: [0, pi], z: [0, pi/2], zz: [0, 1]); above 0 and at most "
                    f"{MAX_FEATURE_SCALE:g}")

    @model_validator(mode="before")
    @classmethod
    def _entanglement_default(cls, data: Any) -> Any:
        # Filled here so that the normalized spec (and hash) states it.
        if isinstance(data, dict) and data.get("entanglement") is None and _entangles(data.get("type")):
            return {**data, "entanglement": DEFAULT_ENTANGLEMENT}
        return data

    @model_validator(mode="after")
    def _entanglement_only_if_entangling(self) -> FeatureMapSpec:
        if self.entanglement is not None and not _entangles(self.type):
            entangling = [name for name, fmap in feature_map_plugins.plugins().items() if fmap.entangles]
            raise spec_error(f"feature map {self.type!r} has no entanglement",
                             "remove entanglement, or use type: " + " or ".join(entangling))
        return self


def _entangles(name: object) -> bool:
    fmap = feature_map_plugins.plugins().get(name) if isinstance(name, str) else None
    return fmap is not None and fmap.entangles


class AnsatzSpec(SpecModel):
    type: AnsatzType
    reps: PositiveInt = Field(default=2, le=MAX_REPS, description=REPS_HINT)
    entanglement: Literal["linear", "full", "circular"] = "linear"


#: Most uploads of the data (``circuit.uploads``, data re-uploading).
MAX_UPLOADS = 100

#: Where a trainable output scale and bias start (README, "The classifier's output").
INITIAL_OUTPUT_SCALE = 2.0
INITIAL_OUTPUT_BIAS = 0.0
#: Largest size of a fixed output scale or bias: sigmoid(50) is already 1 - 2e-22.
MAX_OUTPUT_VALUE = 1e3

#: The L2 penalty on a trainable output scale (``circuit.output.l2``), and its largest value.
DEFAULT_OUTPUT_L2 = 1.0
MAX_OUTPUT_L2 = 1e6

OutputValue = Annotated[float, Field(ge=-MAX_OUTPUT_VALUE, le=MAX_OUTPUT_VALUE)] | Literal["trainable"]


class OutputSpec(SpecModel):
    """How a classifier turns the parity readout <Z...Z> into p(class 1).

    ``logistic``: p = sigmoid(bias - scale * <Z...Z>), scale and bias trained with the circuit (or
    fixed numbers); ``linear``: p = (1 - <Z...Z>) / 2, no parameters. Odd parity (<Z...Z> < 0)
    leans to class 1 in both (with scale > 0).
    """

    link: Literal["logistic", "linear"] = Field(
        default="logistic",
        description="logistic: p(class 1) = sigmoid(bias - scale * <Z...Z>); linear: p(class 1) = (1 - <Z...Z>) / 2")
    scale: OutputValue | None = Field(
        default=None,
        description=f"logistic only: trainable (starts at {INITIAL_OUTPUT_SCALE:g}, the linear link's slope at 0) "
                    f"or a number of size at most {MAX_OUTPUT_VALUE:g}; default trainable")
    bias: OutputValue | None = Field(
        default=None,
        description=f"logistic only: trainable (starts at {INITIAL_OUTPUT_BIAS:g}) or a number of size at most "
                    f"{MAX_OUTPUT_VALUE:g}; default trainable")
    l2: float | None = Field(
        default=None, ge=0, le=MAX_OUTPUT_L2,
        description=f"logistic only: the L2 penalty l2 * scale**2 / (2 n) on a trainable scale, added to the loss "
                    f"(n train rows; logistic regression's C = 1 is l2: 1); 0 to {MAX_OUTPUT_L2:g}, default "
                    f"{DEFAULT_OUTPUT_L2:g}")

    @model_validator(mode="before")
    @classmethod
    def _trainable_default(cls, data: Any) -> Any:
        # Filled here so that the normalized spec (and hash) states it.
        if isinstance(data, dict) and data.get("link", "logistic") == "logistic":
            defaults = {"scale": "trainable", "bias": "trainable", "l2": DEFAULT_OUTPUT_L2}
            return defaults | {k: v for k, v in data.items() if v is not None}
        return data

    @model_validator(mode="after")
    def _parameters_only_if_logistic(self) -> OutputSpec:
        if self.link == "linear" and (self.scale is not None or self.bias is not None or self.l2 is not None):
            raise spec_error("the linear link has no scale, bias or l2",
                             "remove scale, bias and l2, or use link: logistic")
        return self

    @property
    def trained(self) -> list[str]:
        """The names of the output parameters the optimizer moves with the weights."""
        return [name for name in ("scale", "bias") if getattr(self, name) == "trainable"]


class CircuitSpec(SpecModel):
    qubits: int = Field(strict=True, ge=1, le=32,
                        description="1 to 32 qubits: a 32-qubit statevector already takes 64 GiB to simulate")
    feature_map: FeatureMapSpec | None = None
    ansatz: AnsatzSpec
    uploads: PositiveInt = Field(
        default=1, le=MAX_UPLOADS,
        description=f"data re-uploading: how many times the data enters, the feature map and the ansatz interleaved "
                    f"(map, ansatz, map, ansatz, ...), each ansatz layer with its own weights; 1 (encode once) to "
                    f"{MAX_UPLOADS}")
    readout: Literal["parity"] = "parity"
    output: OutputSpec | None = Field(
        default=None, description="classification only: the link from <Z...Z> to p(class 1); default "
                                  "{link: logistic, scale: trainable, bias: trainable, l2: 1.0}")


class NoiseSpec(SpecModel):
    from_device: str | None = None
    depolarizing: float | None = Field(default=None, ge=0, le=1, description="a probability from 0 to 1")
    readout: float | None = Field(default=None, ge=0, le=0.5,
                                  description="a bit-flip probability from 0 to 0.5 (above 0.5 the bits carry "
                                              "more signal flipped)")

    @field_validator("from_device")
    @classmethod
    def _device(cls, value: str | None) -> str | None:
        if value is not None:
            return fake_device(value.removeprefix("fake:"))
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> NoiseSpec:
        custom = self.depolarizing is not None or self.readout is not None
        if self.from_device is not None and custom:
            raise spec_error(
                "noise comes either from a device or from depolarizing/readout rates, not both",
                "keep from_device, or the rates",
            )
        if self.from_device is None and not custom:
            raise spec_error("an empty noise block", "write noise: null for a noiseless simulation")
        return self


class BackendSpec(SpecModel):
    target: str = "aer"
    shots: PositiveInt | None = Field(
        default=None, le=MAX_SHOTS,
        description=f"1 to {MAX_SHOTS:,} shots per circuit, or null for exact expectation values")
    noise: NoiseSpec | None = None
    seed: Seed = Field(default=0, description=SEED_HINT)
    optimization_level: int = Field(default=1, strict=True, ge=0, le=3,
                                    description="0 to 3, the levels of Qiskit's preset pass managers")
    price_per_second_usd: NonNegativeFloat | None = Field(
        default=None, le=MAX_PRICE_PER_SECOND,
        description=f"USD per QPU second, from 0 to {MAX_PRICE_PER_SECOND:,.0f} (IBM Quantum lists 1.6)")

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        return target_plugins.parse(value)

    @property
    def plugin(self) -> Target:
        """The target plug-in that runs this backend (``qspec.plugins.targets``)."""
        return target_plugins.target_of(self.target)

    @property
    def kind(self) -> str:
        """The target's kind: ``aer``, ``fake``, ``ibm``, ... (the plug-in's name)."""
        return self.plugin.name

    @property
    def device(self) -> str | None:
        return self.plugin.device(self.target)

    @property
    def price_per_second(self) -> float:
        if self.price_per_second_usd is not None:
            return self.price_per_second_usd
        return self.plugin.default_price_per_second


class TrainingSpec(SpecModel):
    optimizer: OptimizerSpec = Field(
        default_factory=lambda: optimizer_plugins.plugins()[DEFAULT_OPTIMIZER].options(name=DEFAULT_OPTIMIZER))
    seed: Seed = Field(default=0, description=SEED_HINT)
    initial_point: Literal["random", "zeros"] = "random"
    loss: Literal["cross_entropy", "mse"] | None = Field(
        default=None,
        description="classification only: cross_entropy (the log loss of p(class 1)) or mse (the mean of "
                    "(p(class 1) - label)**2); default cross_entropy")


COEFFICIENT_HINT = (f"coefficients and the constant are at most {MAX_COEFFICIENT:g} in size: rescale the "
                    "Hamiltonian (the energy scales with it)")


class HamiltonianSpec(SpecModel):
    terms: dict[str, Annotated[float, Field(ge=-MAX_COEFFICIENT, le=MAX_COEFFICIENT)]] = Field(
        min_length=1, description=f"Pauli labels and their coefficients, e.g. {{ZZ: -1.0, XX: 0.2}}; "
                                  f"{COEFFICIENT_HINT}")
    constant: float = Field(default=0.0, ge=-MAX_COEFFICIENT, le=MAX_COEFFICIENT, description=COEFFICIENT_HINT)

    @field_validator("terms")
    @classmethod
    def _labels(cls, value: dict[str, float]) -> dict[str, float]:
        for label in value:
            if not re.match(r"^[IXYZ]+$", label):
                raise spec_error(
                    f"Pauli label {shown(label)} may hold only I, X, Y and Z", "write labels like ZZ, XI, IY"
                )
        lengths = {len(label) for label in value}
        if len(lengths) > 1:
            raise spec_error(
                f"Pauli labels have different lengths {sorted(lengths)}",
                "every label has one letter per qubit",
            )
        if all(abs(coefficient) <= MIN_COEFFICIENT for coefficient in value.values()):
            raise spec_error(
                f"every coefficient is 0 (or at most {MIN_COEFFICIENT:g} in size, which Qiskit drops): "
                "the observable is empty",
                "give at least one term a non-zero coefficient, e.g. ZZ: 1.0",
            )
        return value


class BudgetSpec(SpecModel):
    max_shots: PositiveInt | None = None
    max_cost_usd: NonNegativeFloat | None = Field(default=None, description="a finite number of USD, 0 or more")


class TrackingSpec(SpecModel):
    experiment_name: str | None = Field(  # the MLflow experiment; default: metadata.name
        default=None, min_length=1, max_length=MAX_EXPERIMENT_NAME,
        description=f"an MLflow experiment name, 1 to {MAX_EXPERIMENT_NAME} characters")


class ExperimentSpec(SpecModel):
    task: Literal["classification", "vqe"]
    data: DataSpec | None = None
    hamiltonian: HamiltonianSpec | None = None
    circuit: CircuitSpec
    backend: BackendSpec = BackendSpec()
    training: TrainingSpec = TrainingSpec()
    baseline: Literal["logistic_regression", "svc"] | None = None
    budget: BudgetSpec = BudgetSpec()
    tracking: TrackingSpec = TrackingSpec()

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        # Defaults that depend on other fields are filled here, so the normalized spec states them.
        if not isinstance(data, dict) or data.get("task") != "classification":
            return data
        out = dict(data)
        out.setdefault("baseline", "logistic_regression")
        circuit, dataspec = out.get("circuit"), out.get("data")
        if isinstance(circuit, dict) and circuit.get("output") is None:
            out["circuit"] = circuit = {**circuit, "output": {}}
        training = out.get("training", {})
        if isinstance(training, dict) and training.get("loss") is None:
            out["training"] = {**training, "loss": "cross_entropy"}
        if (
            isinstance(dataspec, dict)
            and dataspec.get("features") is None
            and isinstance(circuit, dict)
            and isinstance(circuit.get("qubits"), int)
        ):
            out["data"] = {**dataspec, "features": circuit["qubits"]}
        return out


# --- Model and Deployment ---------------------------------------------------------------------


class ModelSpec(SpecModel):
    experiment: str
    requirements: dict[str, Bound] = {}


#: Replicas a served stage may scale to (``serving.replicas.max``).
MAX_REPLICAS = 1000

#: Kubernetes quantities (``resource.Quantity``) of CPU and memory, as ``serving.resources`` takes them.
CPU_PATTERN = re.compile(r"^(?:\d+(?:\.\d+)?|\.\d+|\d+m)$")
MEMORY_PATTERN = re.compile(r"^(?:\d+(?:\.\d+)?)(?:Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
CPU_HINT = 'CPU as Kubernetes writes it: cores ("2", "0.5") or millicores ("500m")'
MEMORY_HINT = 'memory as Kubernetes writes it: bytes with a unit, e.g. "512Mi", "4Gi" or "1G"'


class ReplicasSpec(SpecModel):
    """How many copies of a served stage run: ``{min: 1, max: 5}`` (an autoscaler between the two)."""

    min: int = Field(default=1, strict=True, ge=1, le=MAX_REPLICAS,
                     description=f"1 to {MAX_REPLICAS} replicas always running")
    max: int = Field(default=1, strict=True, ge=1, le=MAX_REPLICAS,
                     description=f"1 to {MAX_REPLICAS} replicas at most, and at least min")

    @model_validator(mode="after")
    def _ordered(self) -> ReplicasSpec:
        if self.max < self.min:
            raise spec_error(f"replicas max {self.max} is less than min {self.min}",
                             f"set max to {self.min} or more (max == min: a fixed number of replicas)")
        return self


class ResourcesSpec(SpecModel):
    """What one replica requests (and is limited to): ``{cpu: "2", memory: 4Gi}``."""

    cpu: str | None = Field(default=None, description=CPU_HINT)
    memory: str | None = Field(default=None, description=MEMORY_HINT)

    @field_validator("cpu", mode="before")
    @classmethod
    def _cpu(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = f"{value:g}"  # cpu: 2 in YAML is the quantity "2"
        if isinstance(value, str) and (not CPU_PATTERN.match(value) or _zero(value)):
            raise spec_error(f"cpu {shown(value)} is not a CPU quantity", CPU_HINT)
        return value

    @field_validator("memory", mode="before")
    @classmethod
    def _memory(cls, value: Any) -> Any:
        if isinstance(value, str) and (not MEMORY_PATTERN.match(value) or _zero(value)):
            unit = re.sub(r"^[\d.]+", "", value)
            better = {"gb": "G or Gi", "mb": "M or Mi", "kb": "k or Ki", "gib": "Gi", "mib": "Mi", "kib": "Ki",
                      "gi": "Gi", "mi": "Mi", "ki": "Ki", "g": "G or Gi", "m": "M or Mi"}.get(unit.lower()) \
                if unit != value else None
            raise spec_error(f"memory {shown(value)} is not a memory quantity",
                             (f"write the unit {better}; " if better else "") + MEMORY_HINT)
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise spec_error(f"memory {shown(value)} has no unit", MEMORY_HINT)
        return value


def _zero(quantity: str) -> bool:
    number = re.match(r"^[\d.]*", quantity)
    return number is not None and number.group() not in ("", ".") and float(number.group()) == 0


class ServingSpec(SpecModel):
    """How a stage is served (``qspec render`` / ``qspec serve``): where its circuit runs, with how
    many shots, on how many replicas with what resources. Not part of any spec hash: changing it is
    a plan item of its own, never a retraining."""

    target: str = "aer"
    shots: PositiveInt | None = Field(
        default=None, le=MAX_SHOTS,
        description=f"1 to {MAX_SHOTS:,} shots per prediction, or null for exact expectation values")
    replicas: ReplicasSpec = ReplicasSpec()
    resources: ResourcesSpec = ResourcesSpec()

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        return target_plugins.parse(value)

    @model_validator(mode="after")
    def _scalable(self) -> ServingSpec:
        # An autoscaler scales on CPU utilization, a percentage of the request: without one it
        # never acts (Kubernetes reports "missing request for cpu").
        if self.replicas.max > self.replicas.min and self.resources.cpu is None:
            raise spec_error(
                f"replicas {self.replicas.min} to {self.replicas.max} autoscale on CPU, but resources.cpu is not set",
                f'set resources: {{cpu: "1"}} (what one replica requests), or max: {self.replicas.min} '
                "for a fixed number of replicas")
        return self

    def canonical(self) -> str:
        """The registry's record of it (the ``qspec.serving.<stage>`` tag): compact JSON, every field
        (defaults included) in the order declared here, so one block always makes one string."""
        import json

        return json.dumps(self.model_dump(mode="json"), separators=(",", ":"))


class StageSpec(SpecModel):
    track: Literal["HEAD"] | None = None
    ref: str | None = Field(default=None, min_length=1)
    version: PositiveInt | None = None
    serving: ServingSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> StageSpec:
        given = [k for k in ("track", "ref", "version") if getattr(self, k) is not None]
        if len(given) != 1:
            raise spec_error(
                "a stage needs exactly one of track, ref, version"
                + (f" (got {', '.join(given)})" if given else ""),
                "track: HEAD (the spec as it is now), ref: v1.0 (a git ref) or version: 3 (adopt one)",
            )
        return self

    def describe(self) -> str:
        if self.track is not None:
            return "track HEAD"
        if self.ref is not None:
            return f"ref {self.ref}"
        return f"version {self.version}"


class MonitorRule(SpecModel):
    """A threshold of ``qspec monitor`` against the baseline (``MONITOR_RULES`` says which kinds fit
    which metric): ``max_drop`` (baseline - current), ``min`` (current), ``max_ratio`` (current /
    baseline, at least 1), ``max_increase`` (current - baseline)."""

    max_drop: float | None = Field(default=None, ge=0)
    min: float | None = None
    max_ratio: float | None = Field(default=None, ge=1, description="current / baseline, at least 1, e.g. 2")
    max_increase: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _something(self) -> MonitorRule:
        if not self.kinds():
            raise spec_error("a monitoring rule needs max_drop, min, max_ratio or max_increase",
                             "write {max_drop: 0.05}, {max_ratio: 2} or {max_increase: 0.01}")
        return self

    def kinds(self) -> dict[str, float]:
        """The thresholds given, by kind."""
        return {k: v for k in RULE_KINDS if (v := getattr(self, k)) is not None}


#: Every kind of monitoring threshold, in the order they are shown.
RULE_KINDS = ("max_drop", "min", "max_ratio", "max_increase")


class DeploymentSpec(SpecModel):
    model: str
    stages: dict[str, StageSpec] = Field(
        min_length=1, description="at least one stage, e.g. staging: {track: HEAD}")
    gates: dict[str, dict[str, Bound]] = {}
    monitoring: dict[str, MonitorRule] = {}


# --- Resources (whole documents) --------------------------------------------------------------


class Resource(SpecModel):
    api_version: Literal["qspec/v1"] = Field(alias="apiVersion")
    metadata: Metadata

    @property
    def name(self) -> str:
        return self.metadata.name


class Experiment(Resource):
    kind: Literal["Experiment"]
    spec: ExperimentSpec


class Model(Resource):
    kind: Literal["Model"]
    spec: ModelSpec


class Deployment(Resource):
    kind: Literal["Deployment"]
    spec: DeploymentSpec


RESOURCE_TYPES: dict[str, type[Resource]] = {
    "Experiment": Experiment,
    "Model": Model,
    "Deployment": Deployment,
}

AnyResource = Experiment | Model | Deployment
