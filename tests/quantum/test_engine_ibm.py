"""The ibm: path up to the network call: a clear error without a token, the right service call with one."""

from __future__ import annotations

import pytest
import qiskit_ibm_runtime

from qspec.errors import BackendError
from qspec.plugins.targets.ibm import service as ibm_service
from qspec.quantum import train
from qspec.spec.models import Experiment


@pytest.fixture
def no_account(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("qiskit_ibm_runtime.accounts.management._DEFAULT_ACCOUNT_CONFIG_JSON_FILE",
                        str(tmp_path / ".qiskit" / "qiskit-ibm.json"))
    for name in ("QISKIT_IBM_TOKEN", "QISKIT_IBM_CHANNEL", "QISKIT_IBM_INSTANCE"):
        monkeypatch.delenv(name, raising=False)


def test_no_token_is_a_clear_backend_error(no_account: None, examples: dict[str, Experiment], with_changes) -> None:
    spec = with_changes(examples["h2-vqe"], backend={"target": "ibm:ibm_torino"})
    with pytest.raises(BackendError, match="no IBM Quantum account") as info:
        train(spec)
    assert "QISKIT_IBM_TOKEN" in (info.value.hint or "")


def test_token_reaches_the_service(no_account: None, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict] = []

    def fake_init(self, **kwargs) -> None:  # stands in for the network handshake
        calls.append(kwargs)
        raise RuntimeError("network disabled in tests")

    monkeypatch.setattr(qiskit_ibm_runtime.QiskitRuntimeService, "__init__", fake_init)
    monkeypatch.setenv("QISKIT_IBM_TOKEN", "not-a-real-token")
    with pytest.raises(BackendError, match="cannot connect to IBM Quantum"):
        ibm_service()
    assert calls == [{"channel": "ibm_quantum_platform", "token": "not-a-real-token", "instance": None}]
    monkeypatch.setenv("QISKIT_IBM_CHANNEL", "ibm_cloud")
    monkeypatch.setenv("QISKIT_IBM_INSTANCE", "crn:v1:example")
    with pytest.raises(BackendError):
        ibm_service()
    assert calls[-1] == {"channel": "ibm_cloud", "token": "not-a-real-token", "instance": "crn:v1:example"}


def test_ibm_path_runs_end_to_end_in_local_mode(monkeypatch: pytest.MonkeyPatch, examples: dict[str, Experiment],
                                                with_changes) -> None:
    """Everything after the handshake, with a fake device standing in for the service's backend:
    qiskit-ibm-runtime's client-side Estimator runs it in its local testing mode."""
    from qspec.quantum.backends import fake_backend

    requested: list[str] = []

    class Service:
        def backend(self, name: str):
            requested.append(name)
            return fake_backend("manila")

    monkeypatch.setattr("qspec.plugins.targets.ibm.service", lambda: Service())
    spec = with_changes(examples["h2-vqe"], backend={"target": "ibm:ibm_manila", "shots": 2000},
                        training={"optimizer": {"name": "cobyla", "maxiter": 10}})
    result = train(spec)
    assert requested == ["ibm_manila"]
    assert result.device.provider == "ibm" and not result.device.simulator
    assert result.device.calibration is not None and len(result.device.calibration["layout"]) == 2
    assert result.extra["exact_training"] is False and result.iterations == 10
    assert result.shots_used == 2000 * 11 and -2.0 < result.metrics["energy"] < 0.0
    assert result.estimate.cost_usd > 0
