"""``statevector``: qiskit's reference primitives, no Aer: exact, or sampled with the spec's seed.

``shots: null`` gives exact expectation values (``StatevectorEstimator``), and the numpy
statevector path may train, as on noiseless aer; with shots, ``StatevectorSampler`` samples
from one generator seeded by ``backend.seed``, so a training repeats bit for bit. The reference
primitives take any gate, so circuits run as built (no transpiler: ``optimization_level`` has
nothing to act on). Noiseless by construction: a noise block is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qspec.plugins.targets import Simulator, refuse_noise
from qspec.plugins.targets._memory import sample_bytes, state_bytes

if TYPE_CHECKING:
    from qspec.plugins.targets import Finding
    from qspec.quantum.backends import Backend, Evaluator
    from qspec.quantum.circuits import Circuits
    from qspec.spec.models import BackendSpec, ExperimentSpec

#: A bound copy of the circuit, which the reference primitives make for each row of a call (rough).
BOUND_CIRCUIT_BYTES = 64 * 2**10

#: qiskit and numpy around the simulation (rough).
OVERHEAD_BYTES = 128 * 2**20


class StatevectorTarget(Simulator):
    def check(self, spec: ExperimentSpec) -> list[Finding]:
        return refuse_noise(spec, "the statevector reference simulator is noiseless: remove noise, or use target: aer")

    def exact(self, backend: BackendSpec) -> bool:
        return backend.shots is None

    def open(self, backend: BackendSpec, qubits: int) -> Backend:
        from qspec.quantum.backends import Backend
        from qspec.quantum.result import DeviceInfo

        return Backend(backend, DeviceInfo(backend.target, self.provider, None, True), None, None, None, logical=True)

    def evaluator(self, backend: Backend, circuits: Circuits) -> Evaluator:
        from qiskit.primitives import StatevectorEstimator, StatevectorSampler

        from qspec.quantum.backends import EstimatorEvaluator, SamplerEvaluator

        seed, shots = backend.spec.seed, backend.spec.shots
        if shots is None:
            return EstimatorEvaluator(backend, circuits, StatevectorEstimator(seed=seed))
        import numpy as np

        rng = np.random.default_rng(seed)  # one stream for the whole training: fresh shots per call, repeatable
        return SamplerEvaluator(backend, circuits, lambda call: StatevectorSampler(default_shots=shots, seed=rng))

    def peak_memory_bytes(self, backend: BackendSpec, qubits: int, rows: int) -> int:
        # one state at a time (and the copy evolving it makes), every row's bound circuit, the bits
        return (OVERHEAD_BYTES + 2 * state_bytes(qubits, "statevector") + rows * BOUND_CIRCUIT_BYTES
                + sample_bytes(qubits, rows, backend.shots))


PLUGIN = StatevectorTarget(name="statevector", usage="statevector", provider="qiskit", simulator="statevector")
