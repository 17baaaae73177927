"""The circuits a spec names: feature map + ansatz (re-uploaded ``circuit.uploads`` times), the
classification readout and Hamiltonians.

Owns the mapping from ``CircuitSpec`` / ``HamiltonianSpec`` to Qiskit objects; every other part
of the engine (the exact simulator, the backends, prediction) runs what is built here, so a
model always means the same circuit. Feature maps and ansätze are plug-ins
(``qspec.plugins.feature_maps``, ``qspec.plugins.ansatze``), looked up by the spec's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qiskit.circuit import Parameter, ParameterVector, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from qspec.plugins import ansatze, feature_maps
from qspec.spec.models import AnsatzSpec, CircuitSpec, ExperimentSpec, FeatureMapSpec, HamiltonianSpec

#: Names of the two parameter vectors; the trained parameters are logged under these names.
FEATURE_PREFIX = "x"
WEIGHT_PREFIX = "θ"


@dataclass(frozen=True)
class Circuits:
    """The logical circuit of an experiment and what it measures.

    ``features`` are the data inputs (empty for VQE), ``weights`` the trained parameters, both in
    the order the engine's arrays use; ``observable`` excludes a Hamiltonian's ``constant``.
    """

    circuit: QuantumCircuit
    features: list[Parameter]
    weights: list[Parameter]
    observable: SparsePauliOp
    constant: float = 0.0

    @property
    def num_qubits(self) -> int:
        return int(self.circuit.num_qubits)


#: What encodes a classifier's inputs when the spec names no feature map (validation asks for
#: one; a spec built in code may leave it out).
DEFAULT_FEATURE_MAP = "angle"


def build_feature_map(spec: FeatureMapSpec, qubits: int) -> QuantumCircuit:
    circuit: QuantumCircuit = feature_maps.plugins()[spec.type].build(spec, qubits)
    return circuit


def build_ansatz(spec: AnsatzSpec, qubits: int) -> QuantumCircuit:
    circuit: QuantumCircuit = ansatze.plugins()[spec.type].build(spec, qubits)
    return circuit


def parity_observable(qubits: int) -> SparsePauliOp:
    """Z on every qubit: the sign of the bitstring parity, the classification readout."""
    return SparsePauliOp("Z" * qubits)


def hamiltonian_operator(spec: HamiltonianSpec) -> SparsePauliOp:
    """The Pauli terms as written (Qiskit order: the rightmost letter acts on qubit 0)."""
    return SparsePauliOp.from_list(sorted(spec.terms.items())).simplify(atol=0.0)


def angle_range(spec: ExperimentSpec) -> tuple[float, float]:
    """The interval each feature is scaled onto: the feature map's, times ``feature_map.scale``."""
    fmap = spec.circuit.feature_map
    lo, hi = feature_maps.plugins()[fmap.type if fmap is not None else DEFAULT_FEATURE_MAP].angle_range
    scale = fmap.scale if fmap is not None else 1.0
    return lo * scale, hi * scale


def layered(fmap: QuantumCircuit, ansatz: QuantumCircuit, layers: int) -> QuantumCircuit:
    """Data re-uploading: ``layers`` times the feature map then the ansatz, each ansatz layer with its
    own weights. Layer ``l`` reads weights ``l * W .. (l + 1) * W - 1`` of one vector named
    ``WEIGHT_PREFIX`` (W: the ansatz's weights), so one layer is exactly the unlayered circuit."""
    if layers == 1:
        return fmap.compose(ansatz)
    own = _ordered(ansatz.parameters, WEIGHT_PREFIX)
    theta = ParameterVector(WEIGHT_PREFIX, layers * len(own))
    circuit = QuantumCircuit(fmap.num_qubits)
    for layer in range(layers):
        circuit.compose(fmap, inplace=True)
        block = ansatz.assign_parameters(dict(zip(own, theta[layer * len(own):(layer + 1) * len(own)], strict=True)))
        circuit.compose(block, inplace=True)
    return circuit


def build_circuits(spec: ExperimentSpec) -> Circuits:
    """The feature map (classification only) followed by the ansatz, with its observable."""
    circuit_spec: CircuitSpec = spec.circuit
    qubits = circuit_spec.qubits
    ansatz = build_ansatz(circuit_spec.ansatz, qubits)
    if spec.task == "classification":
        # A classifier without a declared feature map still needs its inputs: angle encoding.
        fmap_spec = circuit_spec.feature_map or FeatureMapSpec(type=DEFAULT_FEATURE_MAP)
        fmap = build_feature_map(fmap_spec, qubits)
        circuit = layered(fmap, ansatz, circuit_spec.uploads)
        circuit.name = f"{fmap_spec.type}+{circuit_spec.ansatz.type}"
        if circuit_spec.uploads > 1:
            circuit.name += f"x{circuit_spec.uploads}"
        features = _ordered(fmap.parameters, FEATURE_PREFIX)
        observable = parity_observable(qubits)
        constant = 0.0
    else:
        if spec.hamiltonian is None:
            raise ValueError("a vqe experiment needs a hamiltonian")
        circuit = ansatz.copy(name=circuit_spec.ansatz.type)
        features = []
        observable = hamiltonian_operator(spec.hamiltonian)
        constant = spec.hamiltonian.constant
    weights = _ordered(circuit.parameters, WEIGHT_PREFIX)
    return Circuits(circuit, features, weights, observable, constant)


def _ordered(parameters: Sequence[Parameter], prefix: str) -> list[Parameter]:
    # ParameterVector elements sort by index; keep only those of this vector, in vector order.
    chosen = [p for p in parameters if p.name.startswith(prefix + "[")]
    return sorted(chosen, key=lambda p: p.index)
