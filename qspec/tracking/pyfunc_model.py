"""The MLflow pyfunc of a qspec model, as MLflow's models-from-code runs it (no pickle).

MLflow copies this file into every logged model and executes it at load time; the
``set_model`` call at the bottom hands it the model object. ``load_context`` reads the
artifacts that ``qspec.tracking.model.write_model_artifacts`` wrote (QPY circuit, parameters,
preprocessing as plain arrays, the normalized spec), and ``predict`` runs the trained circuit
through the engine's prediction functions (``qspec.quantum.predict``), exactly or with the
spec's shots and seed. The qspec package travels with the model (``code_paths``), so the code
that predicts is the code that trained.

A served stage (``qspec render`` / ``qspec serve``) sets ``QSPEC_SERVING_SHOTS`` (a number, or
``exact``) and ``QSPEC_SERVING_TARGET`` (``aer``, ``fake:<device>``, ``ibm:<device>``) in the
server's environment; when they are set, every prediction runs that way, with the spec's seed,
and the request's ``mode`` parameter is not read: MLflow fills a missing ``mode`` with the
signature's default, so a request that names none cannot be told from one that names the default,
and a served stage answers as its ``serving`` block declares. Environment variables rather than
request parameters because they are the stage's configuration, fixed per deployment (MLflow's
``params`` are per request, and are limited to the ones the signature logged with the model).

Classification: raw feature rows in, ``label`` (as the spec writes the class), ``probability``
(of that label) and the circuit's ``expectation`` value out. VQE: the optimal ``parameters``
and the ``energy`` they give, one row per input row (the input only carries an optional ``mode``).
"""

from __future__ import annotations

import json
import os
from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc.model import PythonModel

MODES = ("exact", "shots")

#: The served stage's configuration (``qspec.serving.config`` sets them; the names are repeated here
#: because this file runs inside the model, importing as little as it can).
TARGET_ENV = "QSPEC_SERVING_TARGET"
SHOTS_ENV = "QSPEC_SERVING_SHOTS"


def serving_from_env() -> dict[str, Any] | None:
    """``{"shots": N or None, "target": T}`` from the serving environment, or None outside serving."""
    shots_text = os.environ.get(SHOTS_ENV, "").strip()
    target = os.environ.get(TARGET_ENV, "").strip() or None
    if not shots_text and target is None:
        return None
    if shots_text in ("", "exact"):
        shots = None
    elif shots_text.isdigit() and int(shots_text) >= 1:
        shots = int(shots_text)
    else:
        raise ValueError(f"{SHOTS_ENV}={shots_text!r}: a positive number of shots, or 'exact'")
    return {"shots": shots, "target": target}


class QuantumModel(PythonModel):
    """A trained variational circuit, loaded from QPY and run by the qspec engine."""

    def load_context(self, context: Any) -> None:
        import numpy as np
        from qiskit import qpy

        from qspec.spec.models import Experiment

        paths = context.artifacts
        with open(paths["model_config"], encoding="utf-8") as handle:
            self.config = json.load(handle)
        if self.config.get("format_version") != 1:
            raise ValueError(f"unknown qspec model format {self.config.get('format_version')!r}")
        with open(paths["circuit"], "rb") as handle:
            self.circuit = qpy.load(handle)[0]
        self.parameters = np.load(paths["parameters"])
        with open(paths["spec"], encoding="utf-8") as handle:
            self.experiment = Experiment.model_validate(json.load(handle), strict=False)
        self.preprocessing = None
        if "preprocessing" in paths:
            from qspec.quantum.result import Preprocessing

            with open(paths["preprocessing"], encoding="utf-8") as handle:
                self.preprocessing = Preprocessing.from_dict(json.load(handle))

    def _run(self, params: dict[str, Any] | None) -> dict[str, Any]:
        """How the circuit runs: the served stage's shots and target, else the request's ``mode``."""
        served = serving_from_env()
        if served is not None:
            return {**served, "seed": int(self.config.get("seed") or 0)}
        return {**self._shots(self._mode(params)), "target": None}

    def _mode(self, params: dict[str, Any] | None) -> str:
        mode = str((params or {}).get("mode") or self.config["default_mode"])
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if mode == "shots" and not self.config.get("shots"):
            raise ValueError("mode 'shots' needs a model trained with shots; this one is exact")
        return mode

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        # A DataFrame hint: MLflow infers no schema from it (the logged signature stays the one
        # that names the raw feature columns) and stops asking for type hints.
        import numpy as np

        if self.config["task"] == "vqe":
            rows = max(len(model_input), 1)
            served = serving_from_env()
            if served is not None:  # one configuration for every row
                energy = _energy(self, self._run(params))
                mode = "exact" if served["shots"] is None else "shots"
                return pd.DataFrame([{"energy": energy, "parameters": self.parameters.tolist(), "mode": mode}] * rows,
                                    columns=["energy", "parameters", "mode"])
            modes = list(model_input["mode"]) if "mode" in getattr(model_input, "columns", []) else []
            out, energies = [], {}
            for i in range(rows):
                requested = modes[i] if i < len(modes) and isinstance(modes[i], str) and modes[i] else None
                mode = self._mode({"mode": requested} if requested else params)
                if mode not in energies:  # the energy does not depend on the row: run once per mode
                    energies[mode] = _energy(self, {**self._shots(mode), "target": None})
                out.append({"energy": energies[mode], "parameters": self.parameters.tolist(), "mode": mode})
            return pd.DataFrame(out, columns=["energy", "parameters", "mode"])

        run = self._run(params)
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        names = self.config["feature_names"]
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise ValueError(f"missing feature columns: {', '.join(missing)}")
        labels, probabilities, expectation = _classify(self, frame[names].to_numpy(dtype=float), run)
        classes = self.config["classes"]
        chosen = np.array([classes.index(label) for label in labels], dtype=int)
        return pd.DataFrame({
            "label": labels,
            "probability": probabilities[np.arange(len(chosen)), chosen].astype(float),
            # <Z...Z>, from which the model's readout (circuit.output) gives P(class 1).
            "expectation": np.asarray(expectation, dtype=float),
        })

    def _shots(self, mode: str) -> dict[str, Any]:
        if mode == "exact":
            return {"shots": None, "seed": None}
        return {"shots": int(self.config["shots"]), "seed": int(self.config["seed"])}


def _classify(model: QuantumModel, raw: Any, run: dict[str, Any]) -> tuple[list[Any], Any, Any]:
    """Labels, (n x 2) class probabilities and <Z...Z> of raw rows, from the engine."""
    from qspec.quantum.predict import classify

    if model.preprocessing is None:
        raise ValueError("a classification model without its preprocessing.json")
    return classify(model.circuit, model.parameters, model.preprocessing, raw, **run)


def _energy(model: QuantumModel, run: dict[str, Any]) -> float:
    from qspec.quantum.predict import predict_energy

    hamiltonian = model.experiment.spec.hamiltonian
    if hamiltonian is None:
        raise ValueError("a vqe model without a hamiltonian in its spec")
    return float(predict_energy(model.circuit, model.parameters, hamiltonian.terms,
                                constant=hamiltonian.constant, **run))


mlflow.models.set_model(QuantumModel())
