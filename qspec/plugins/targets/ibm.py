"""``ibm:<device>``: a real IBM Quantum device through qiskit-ibm-runtime, billed by QPU time.

Needs an account: ``QISKIT_IBM_TOKEN`` (channel ``QISKIT_IBM_CHANNEL``, default
``ibm_quantum_platform``; instance ``QISKIT_IBM_INSTANCE``; the service's base URL
``QISKIT_IBM_URL``, for a private endpoint) or a saved default account. Hardware samples, so
``shots`` cannot be null, and a noise block makes no sense.

A failure to reach the service (DNS, a refused or timed-out connection, a proxy) is reported as a
network error, whatever the runtime's own message says: it says "check that you are using a valid
API token" for a host that does not resolve, which would send the user after the wrong problem.
"""

from __future__ import annotations

import os
import re
import socket
from typing import TYPE_CHECKING, Any

from qspec.errors import BackendError
from qspec.plugins.targets import device_part, refuse_noise
from qspec.secrets import mask
from qspec.spec.models import shown, spec_error

if TYPE_CHECKING:
    from qspec.plugins.targets import Finding
    from qspec.quantum.backends import Backend, Evaluator
    from qspec.quantum.circuits import Circuits
    from qspec.spec.models import BackendSpec, ExperimentSpec

#: USD per QPU second assumed when the spec names no price (IBM Quantum's pay-as-you-go list
#: price, 96 USD a minute).
DEFAULT_IBM_PRICE_PER_SECOND = 1.6

#: Shots per circuit when a spec that was not validated leaves ``shots`` null (IBM's default).
DEFAULT_SHOTS = 4096

#: Memory of this process around a remote device (qiskit, the runtime client), bytes.
CLIENT_BYTES = 128 * 2**20

#: ... and per parameter row of a call: the values sent and the expectation value returned, rough.
ROW_BYTES = 1024

NETWORK_HINT = ("a network failure, not a credential problem (the token was not checked): check this machine's "
                "network, DNS and proxy (HTTPS_PROXY), and QISKIT_IBM_URL if it is set")

ACCOUNT_HINT = ("export QISKIT_IBM_TOKEN=<your IBM Quantum API key>, or save an account once with "
                "QiskitRuntimeService.save_account(token=..., set_as_default=True)")


class Ibm:
    name = "ibm"
    usage = "ibm:<device> (e.g. ibm:ibm_torino)"
    provider = "ibm"
    simulator = None
    hardware = True
    default_price_per_second = DEFAULT_IBM_PRICE_PER_SECOND

    def parse(self, target: str) -> str:
        device = device_part(target)
        if not re.match(r"^ibm_[a-z0-9_]+$", device):
            raise spec_error(f"{shown(device)} is not an IBM Quantum device name",
                             "IBM devices are named like ibm_torino")
        return target

    def device(self, target: str) -> str | None:
        return target.removeprefix("ibm:")

    def check(self, spec: ExperimentSpec) -> list[Finding]:
        out = refuse_noise(spec, "fake devices carry their own noise and IBM hardware is real: remove noise")
        if spec.backend.shots is None:
            out.append((("spec", "backend", "shots"), "real hardware samples: shots cannot be null on ibm targets",
                        "set shots, e.g. shots: 4096"))
        return out

    def shots(self, backend: BackendSpec) -> int | None:
        return backend.shots or DEFAULT_SHOTS

    def sampled_groups(self, backend: BackendSpec) -> bool:
        return False  # the runtime's Estimator measures the observable's bases itself

    def exact(self, backend: BackendSpec) -> bool:
        return False

    def check_credentials(self) -> None:
        if os.environ.get("QISKIT_IBM_TOKEN"):
            return
        from qiskit_ibm_runtime import QiskitRuntimeService

        try:
            saved = QiskitRuntimeService.saved_accounts()
        except Exception:  # an unreadable accounts file counts as none
            saved = {}
        if not saved:
            raise BackendError("no IBM Quantum account: QISKIT_IBM_TOKEN is not set and no account is saved",
                               hint=ACCOUNT_HINT)

    def open(self, backend: BackendSpec, qubits: int) -> Backend:
        from qspec.quantum.backends import Backend, calibration
        from qspec.quantum.result import DeviceInfo

        account = service()
        name = backend.target.removeprefix("ibm:")
        try:
            device = account.backend(name)
        except Exception as exc:
            network = network_failure(exc)
            if network is not None:
                raise BackendError(f"cannot reach IBM Quantum to open {name!r}: {network}", hint=NETWORK_HINT) from exc
            raise BackendError(f"IBM Quantum has no device {name!r} for this account: {exc}",
                               hint="list yours with QiskitRuntimeService().backends()") from exc
        info = DeviceInfo(backend.target, self.provider, name, False, calibration=calibration(device))
        return Backend(backend, info, device, device, None)

    def evaluator(self, backend: Backend, circuits: Circuits) -> Evaluator:
        from qspec.quantum.backends import IbmEvaluator

        return IbmEvaluator(backend, circuits)

    def peak_memory_bytes(self, backend: BackendSpec, qubits: int, rows: int) -> int:
        return CLIENT_BYTES + rows * ROW_BYTES  # the device holds the states


#: requests' and urllib3's names for a connection that could not be made (matched by name: the
#: plug-in does not import them).
_NETWORK_ERRORS = frozenset({"ConnectTimeout", "ConnectTimeoutError", "NewConnectionError", "ProxyError",
                             "ReadTimeout", "SSLError"})


def network_failure(exc: BaseException) -> str | None:
    """What went wrong on the network, when ``exc`` (or an error it was raised from) is a DNS or
    connection failure; None for anything else (a refused token, an unknown instance)."""
    seen: set[int] = set()
    found: str | None = None
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        if isinstance(current, socket.gaierror) or name == "NameResolutionError":
            return f"the host does not resolve (DNS): {current}"
        requests_error = name == "ConnectionError" and type(current).__module__.startswith("requests")
        if isinstance(current, TimeoutError | ConnectionError) or requests_error or name in _NETWORK_ERRORS:
            found = found or f"no connection: {current}"
        current = current.__cause__ or current.__context__
    return found


def service() -> Any:
    """QiskitRuntimeService from ``QISKIT_IBM_TOKEN`` or else the saved default account."""
    from qiskit_ibm_runtime import QiskitRuntimeService

    PLUGIN.check_credentials()
    token = os.environ.get("QISKIT_IBM_TOKEN")
    try:
        if token:
            channel = os.environ.get("QISKIT_IBM_CHANNEL", "ibm_quantum_platform")
            options: dict[str, Any] = {"channel": channel, "token": token,
                                       "instance": os.environ.get("QISKIT_IBM_INSTANCE")}
            if os.environ.get("QISKIT_IBM_URL"):
                options["url"] = os.environ["QISKIT_IBM_URL"]
            return QiskitRuntimeService(**options)
        return QiskitRuntimeService()
    except Exception as exc:
        network = network_failure(exc)
        if network is not None:
            raise BackendError(mask(f"cannot reach IBM Quantum: {network}"), hint=NETWORK_HINT) from exc
        raise BackendError(mask(f"cannot connect to IBM Quantum: {exc}"), hint=ACCOUNT_HINT) from exc


PLUGIN = Ibm()
