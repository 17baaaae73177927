"""Backend targets: where a spec's circuits run (``backend.target``), one plug-in per kind.

A target is written ``<kind>`` or ``<kind>:<device>`` (``aer``, ``fake:manila``,
``ibm:ibm_torino``); the kind names the plug-in. Each plug-in owns everything that depends on
the target: parsing its string (the errors and hints validation shows), the cross-field rules
that belong to it (noise only on aer, shots on hardware, device sizes), the default price per
QPU second, the run tags, the shots it samples with, its credentials, opening the backend and
making the evaluator, whether the exact numpy statevector path may train it, and the memory a
training needs.

Read by ``qspec.spec.models`` (``BackendSpec``), ``qspec.spec.checks``, ``qspec.quantum.estimate``
and ``qspec.quantum.backends``; ``run_tags`` is what tracking tags a run with. The shared
machinery (evaluators, noise models, calibration) is ``qspec.quantum.backends``; plug-ins import
it inside the functions that run circuits.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from qspec.plugins import discover
from qspec.plugins.targets._memory import aer_bytes, aer_method
from qspec.spec.devices import FAKE_DEVICES
from qspec.spec.models import shown, spec_error

if TYPE_CHECKING:
    from pydantic_core import PydanticCustomError

    from qspec.quantum.backends import Backend, Evaluator
    from qspec.quantum.circuits import Circuits
    from qspec.spec.models import BackendSpec, ExperimentSpec

#: (key path, message, hint) of a problem, as ``qspec.spec.checks`` reports them.
Finding = tuple[tuple[str | int, ...], str, str | None]


@runtime_checkable
class Target(Protocol):
    @property
    def name(self) -> str: ...  # the kind: ``backend.target`` up to the first ':'
    @property
    def usage(self) -> str: ...  # how a target of this kind is written, for hints: "fake:<device> (e.g. ...)"
    @property
    def provider(self) -> str: ...  # who runs the circuits: the quantum.provider run tag and DeviceInfo's
    @property
    def simulator(self) -> str | None: ...  # the quantum.device run tag when the target names no device
    @property
    def hardware(self) -> bool: ...  # a real device: billed by QPU time, tagged quantum.type=hardware
    @property
    def default_price_per_second(self) -> float: ...  # USD per QPU second when the spec names no price

    def parse(self, target: str) -> str:
        """The normalized target string; raises ``spec_error`` with a hint when it is not valid."""
        ...

    def device(self, target: str) -> str | None:
        """The device a (normalized) target string names, or None."""
        ...

    def check(self, spec: ExperimentSpec) -> list[Finding]:
        """The cross-field rules that belong to this target (validation)."""
        ...

    def shots(self, backend: BackendSpec) -> int | None:
        """Shots per circuit execution; None: exact expectation values."""
        ...

    def sampled_groups(self, backend: BackendSpec) -> bool:
        """Whether each group of qubit-wise commuting terms runs as its own circuit (a sampler)."""
        ...

    def exact(self, backend: BackendSpec) -> bool:
        """Whether the exact numpy statevector path may train (noiseless, exact expectation values)."""
        ...

    def check_credentials(self) -> None:
        """Raise ``BackendError`` when the account the target needs is missing."""
        ...

    def open(self, backend: BackendSpec, qubits: int) -> Backend:
        """Configure the backend (no circuit runs yet)."""
        ...

    def evaluator(self, backend: Backend, circuits: Circuits) -> Evaluator:
        """The evaluator that runs ``circuits`` on ``backend`` (transpiles, once)."""
        ...

    def peak_memory_bytes(self, backend: BackendSpec, qubits: int, rows: int) -> int:
        """Bytes this process holds to evaluate ``rows`` parameter rows in one call (rough, upper)."""
        ...


@dataclass(frozen=True)
class Simulator:
    """A target that simulates locally: free, no account, sampling only with shots. A plug-in
    subclasses it for its behaviour and states what it is when it makes its ``PLUGIN``."""

    name: str
    usage: str
    provider: str
    simulator: str | None = None
    hardware: bool = False
    default_price_per_second: float = 0.0

    def parse(self, target: str) -> str:
        if target != self.name:
            raise unknown_target(target)
        return target

    def device(self, target: str) -> str | None:
        return None

    def check(self, spec: ExperimentSpec) -> list[Finding]:
        return []

    def shots(self, backend: BackendSpec) -> int | None:
        return backend.shots

    def sampled_groups(self, backend: BackendSpec) -> bool:
        return backend.shots is not None

    def exact(self, backend: BackendSpec) -> bool:
        return False

    def check_credentials(self) -> None:
        return None


@functools.cache
def plugins() -> dict[str, Target]:
    return discover(__name__, Target)


def target_of(target: str) -> Target:
    """The plug-in of a target string that validation accepted."""
    return plugins()[target.split(":", 1)[0]]


def parse(value: str) -> str:
    """The normalized target string (``BackendSpec.target``), or a validation error with a hint."""
    plugin = plugins().get(value.split(":", 1)[0])
    if plugin is None:
        raise unknown_target(value)
    return plugin.parse(value)


def run_tags(backend: BackendSpec) -> dict[str, str]:
    """The ``quantum.provider``, ``quantum.device`` and ``quantum.type`` tags of a run on ``backend``."""
    plugin = backend.plugin
    device = plugin.device(backend.target) or plugin.simulator
    if device is None:
        raise ValueError(f"target {backend.target!r} names no device and its plug-in no simulator")
    return {"quantum.provider": plugin.provider, "quantum.device": device,
            "quantum.type": "hardware" if plugin.hardware else "simulator"}


def check_credentials(backend: BackendSpec) -> None:
    """Raise ``BackendError`` when ``backend`` needs an account that is not configured."""
    backend.plugin.check_credentials()


def unknown_target(value: str) -> PydanticCustomError:
    usages = [plugin.usage for plugin in plugins().values()]
    return spec_error(f"unknown backend target {shown(value)}", "use " + ", ".join(usages[:-1]) + " or " + usages[-1])


def device_part(value: str) -> str:
    """What follows ``<kind>:`` in a target string; an unknown target without it."""
    _, colon, device = value.partition(":")
    if not colon:
        raise unknown_target(value)
    return device


def refuse_noise(spec: ExperimentSpec, hint: str) -> list[Finding]:
    """A noise block on a target that brings its own noise, or none: Aer's noise models are aer's."""
    backend = spec.backend
    if backend.noise is None:
        return []
    return [(("spec", "backend", "noise"), f"a noise block applies to target aer only, not {backend.target}", hint)]


def device_fits(spec: ExperimentSpec, device: str) -> list[Finding]:
    """The circuit's qubits against a fake device's: a larger circuit cannot be laid out on it."""
    qubits, available = spec.circuit.qubits, FAKE_DEVICES[device]
    if qubits <= available:
        return []
    return [(("spec", "circuit", "qubits"), f"the circuit needs {qubits} qubits, fake:{device} has {available}",
             "pick a larger device or fewer qubits")]


def aer_peak_bytes(backend: BackendSpec, qubits: int, rows: int, *, noisy: bool) -> int:
    """Aer's memory for one call: a statevector or density matrix per row, the measured bits, overhead."""
    return aer_bytes(qubits, rows, method=aer_method(qubits, noisy=noisy), shots=backend.shots)
