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


class TestIbmNetworkErrors:
    """A DNS or connection failure is a network error, not "check your API token" (which the
    runtime itself says for a host that does not resolve)."""

    def test_an_unresolvable_service_is_a_network_error(self, no_account: None,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("QISKIT_IBM_TOKEN", "qspec-fake-token-not-sent-anywhere")
        monkeypatch.setenv("QISKIT_IBM_URL", "https://qspec-tests.invalid")  # RFC 6761: never resolves
        with pytest.raises(BackendError) as info:
            ibm_service()
        assert "cannot reach IBM Quantum" in info.value.message and "DNS" in info.value.message
        assert "network" in (info.value.hint or "") and "not a credential problem" in (info.value.hint or "")
        assert "valid API token" not in str(info.value) and "qspec-fake-token" not in str(info.value)

    def test_a_refused_token_is_still_a_credential_error(self, no_account: None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
        def refuse(self, **kwargs) -> None:
            raise qiskit_ibm_runtime.accounts.InvalidAccountError("Unable to retrieve instances.")

        monkeypatch.setattr(qiskit_ibm_runtime.QiskitRuntimeService, "__init__", refuse)
        monkeypatch.setenv("QISKIT_IBM_TOKEN", "qspec-fake-token")
        with pytest.raises(BackendError, match="cannot connect to IBM Quantum") as info:
            ibm_service()
        assert "QISKIT_IBM_TOKEN" in (info.value.hint or "")

    @pytest.mark.parametrize("error", [ConnectionRefusedError(111, "Connection refused"), TimeoutError("timed out")])
    def test_a_connection_failure_opening_a_device_is_a_network_error(self, monkeypatch: pytest.MonkeyPatch,
                                                                      error: OSError) -> None:
        from qspec.plugins.targets.ibm import PLUGIN
        from qspec.spec.models import BackendSpec

        class Service:
            def backend(self, name: str):
                raise RuntimeError("request failed") from error

        monkeypatch.setattr("qspec.plugins.targets.ibm.service", lambda: Service())
        with pytest.raises(BackendError, match="cannot reach IBM Quantum to open 'ibm_torino'") as info:
            PLUGIN.open(BackendSpec(target="ibm:ibm_torino", shots=100), 2)
        assert "no connection" in info.value.message and "not a credential problem" in (info.value.hint or "")
