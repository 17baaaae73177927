"""``fake:<device>``: a qiskit-ibm-runtime snapshot of an IBM device, simulated by Aer with its noise.

Circuits are transpiled to the device (its gates and coupling map) and run locally, exactly with
a density matrix (``shots: null``) or sampled. The device table is ``qspec.spec.devices``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qspec.plugins.targets import Simulator, aer_peak_bytes, device_fits, device_part, refuse_noise
from qspec.spec.models import fake_device

if TYPE_CHECKING:
    from qspec.plugins.targets import Finding
    from qspec.quantum.backends import Backend, Evaluator
    from qspec.quantum.circuits import Circuits
    from qspec.spec.models import BackendSpec, ExperimentSpec


class Fake(Simulator):
    def parse(self, target: str) -> str:
        return "fake:" + fake_device(device_part(target))

    def device(self, target: str) -> str | None:
        return target.removeprefix("fake:")

    def check(self, spec: ExperimentSpec) -> list[Finding]:
        return [*refuse_noise(spec, "fake devices carry their own noise and IBM hardware is real: remove noise"),
                *device_fits(spec, self._device(spec.backend))]

    def open(self, backend: BackendSpec, qubits: int) -> Backend:
        from qspec.quantum.backends import device_noise_backend

        return device_noise_backend(backend, qubits, self._device(backend), provider=self.provider)

    def evaluator(self, backend: Backend, circuits: Circuits) -> Evaluator:
        from qspec.quantum.backends import aer_evaluator

        return aer_evaluator(backend, circuits)

    def peak_memory_bytes(self, backend: BackendSpec, qubits: int, rows: int) -> int:
        return aer_peak_bytes(backend, qubits, rows, noisy=True)

    def _device(self, backend: BackendSpec) -> str:
        return backend.target.removeprefix("fake:")


PLUGIN = Fake(name="fake", usage="fake:<device> (e.g. fake:manila)", provider="ibm-fake")
