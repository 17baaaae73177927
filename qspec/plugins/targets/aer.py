"""``aer``: qiskit-aer on this machine, exact or sampled, noiseless or with the spec's noise block.

The noise block is this target's alone: ``{from_device: manila}`` (a device snapshot's noise
model) or ``{depolarizing, readout}`` rates. Noiseless with ``shots: null``, the exact numpy
statevector path trains and Aer takes the final metrics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qspec.plugins.targets import Simulator, aer_peak_bytes, device_fits

if TYPE_CHECKING:
    from qspec.plugins.targets import Finding
    from qspec.quantum.backends import Backend, Evaluator
    from qspec.quantum.circuits import Circuits
    from qspec.spec.models import BackendSpec, ExperimentSpec


class Aer(Simulator):
    def check(self, spec: ExperimentSpec) -> list[Finding]:
        noise = spec.backend.noise
        return device_fits(spec, noise.from_device) if noise is not None and noise.from_device else []

    def exact(self, backend: BackendSpec) -> bool:
        return backend.shots is None and backend.noise is None

    def open(self, backend: BackendSpec, qubits: int) -> Backend:
        from qspec.quantum import backends

        if backend.noise is None:
            return backends.ideal_aer_backend(backend)
        if backend.noise.from_device is not None:
            return backends.device_noise_backend(backend, qubits, backend.noise.from_device, provider=self.provider)
        return backends.custom_noise_backend(backend, qubits)

    def evaluator(self, backend: Backend, circuits: Circuits) -> Evaluator:
        from qspec.quantum.backends import aer_evaluator

        return aer_evaluator(backend, circuits)

    def peak_memory_bytes(self, backend: BackendSpec, qubits: int, rows: int) -> int:
        return aer_peak_bytes(backend, qubits, rows, noisy=backend.noise is not None)


PLUGIN = Aer(name="aer", usage="aer", provider="aer", simulator="aer_simulator")
