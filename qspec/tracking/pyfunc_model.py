"""The MLflow pyfunc of a qspec model, as MLflow's models-from-code runs it (no pickle).

MLflow copies this file into every logged model and executes it at load time; the
``set_model`` call at the bottom hands it the model object. ``load_context`` reads the
artifacts that ``qspec.tracking.model.write_model_artifacts`` wrote (QPY circuit, parameters,
preprocessing as plain arrays, the normalized spec), and ``predict`` runs the trained circuit
through the engine's prediction functions (``qspec.quantum.predict``), exactly or with the
spec's shots and seed. The qspec package travels with the model (``code_paths``), so the code
that predicts is the code that trained.

Classification: raw feature rows in, ``label`` (as the spec writes the class), ``probability``
(of that label) and the circuit's ``expectation`` value out. VQE: the optimal ``parameters``
and the ``energy`` they give, one row per input row (the input only carries an optional ``mode``).
"""

from __future__ import annotations

import json
from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc.model import PythonModel

MODES = ("exact", "shots")


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
            modes = list(model_input["mode"]) if "mode" in getattr(model_input, "columns", []) else []
            out, energies = [], {}
            for i in range(rows):
                requested = modes[i] if i < len(modes) and isinstance(modes[i], str) and modes[i] else None
                mode = self._mode({"mode": requested} if requested else params)
                if mode not in energies:  # the energy does not depend on the row: run once per mode
                    energies[mode] = _energy(self, mode)
                out.append({"energy": energies[mode], "parameters": self.parameters.tolist(), "mode": mode})
            return pd.DataFrame(out, columns=["energy", "parameters", "mode"])

        mode = self._mode(params)
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        names = self.config["feature_names"]
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise ValueError(f"missing feature columns: {', '.join(missing)}")
        labels, probabilities, expectation = _classify(self, frame[names].to_numpy(dtype=float), mode)
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


def _classify(model: QuantumModel, raw: Any, mode: str) -> tuple[list[Any], Any, Any]:
    """Labels, (n x 2) class probabilities and <Z...Z> of raw rows, from the engine."""
    from qspec.quantum.predict import classify

    if model.preprocessing is None:
        raise ValueError("a classification model without its preprocessing.json")
    return classify(model.circuit, model.parameters, model.preprocessing, raw, **model._shots(mode))


def _energy(model: QuantumModel, mode: str) -> float:
    from qspec.quantum.predict import predict_energy

    hamiltonian = model.experiment.spec.hamiltonian
    if hamiltonian is None:
        raise ValueError("a vqe model without a hamiltonian in its spec")
    return float(predict_energy(model.circuit, model.parameters, hamiltonian.terms,
                                constant=hamiltonian.constant, **model._shots(mode)))


mlflow.models.set_model(QuantumModel())
