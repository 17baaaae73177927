"""PNG plots of a training run, drawn headless (matplotlib's Agg canvas, no pyplot state).

Called by ``qspec.tracking.artifacts``. Figures are built with ``matplotlib.figure.Figure``
directly rather than ``pyplot`` so that nothing depends on a display or leaks global figures
when many runs are logged in one process.
"""

from __future__ import annotations

from pathlib import Path

from qspec.quantum.result import TrainingResult


def _figure(width: float = 6.4, height: float = 4.0):  # type: ignore[no-untyped-def]
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def plot_training_curve(path: Path, title: str, result: TrainingResult) -> None:
    """Loss per iteration, and the task's metric (accuracy or energy) on a second axis."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = _figure()
    axis = figure.add_subplot()
    steps = [r.iteration for r in result.history]
    axis.plot(steps, [r.loss for r in result.history], color="tab:blue", label="loss")
    axis.set_xlabel("iteration")
    axis.set_ylabel("loss", color="tab:blue")
    if result.converged_iteration:
        axis.axvline(result.converged_iteration, color="grey", linestyle=":", label="best")
    keys = sorted({k for r in result.history for k in r.metrics})
    if keys:
        other = axis.twinx()
        for key, color in zip(keys, ("tab:orange", "tab:green", "tab:red", "tab:purple"), strict=False):
            points = [(r.iteration, r.metrics[key]) for r in result.history if key in r.metrics]
            other.plot([p[0] for p in points], [p[1] for p in points], color=color, label=key)
        other.set_ylabel(", ".join(keys))
        other.legend(loc="upper right")
    axis.legend(loc="upper left")
    axis.set_title(f"{title}: training")
    figure.tight_layout()
    figure.savefig(path, format="png")


def plot_baseline(path: Path, title: str, result: TrainingResult) -> None:
    """The quantum model beside its classical reference, metric by metric.

    Classification: the spec's baseline model on the same split. VQE: the exact ground-state
    energy from diagonalizing the Hamiltonian (the classical answer the circuit approximates).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if result.task == "vqe" and "exact_ground_energy" in result.extra:
        _plot_vqe_against_exact(path, title, result, float(result.extra["exact_ground_energy"]))
        return
    figure = _figure()
    axis = figure.add_subplot()
    baseline = dict(result.baseline)
    label = result.baseline_name or "classical"
    names = [k for k in result.metrics if k in baseline] or sorted(result.metrics)
    positions = list(range(len(names)))
    width = 0.38
    quantum = [result.metrics.get(k, float("nan")) for k in names]
    classical = [baseline.get(k, float("nan")) for k in names]
    axis.bar([p - width / 2 for p in positions], quantum, width, label="quantum", color="tab:purple")
    if baseline:
        axis.bar([p + width / 2 for p in positions], classical, width, label=label, color="tab:grey")
    for position, value in zip(positions, quantum, strict=True):
        axis.annotate(f"{value:.4g}", (position - width / 2, value), ha="center",
                      va="bottom" if value >= 0 else "top", fontsize=8)
    axis.set_xticks(positions, names)
    axis.axhline(0, color="black", linewidth=0.5)
    if all(0 <= v <= 1 for v in quantum + classical if v == v):  # accuracies: leave room for the legend
        axis.set_ylim(0, 1.25)
    axis.legend(loc="upper right")
    axis.set_title(f"{title}: quantum vs classical baseline")
    figure.tight_layout()
    figure.savefig(path, format="png")


def _plot_vqe_against_exact(path: Path, title: str, result: TrainingResult, exact: float) -> None:
    """VQE energy per iteration against the exact ground state, and the error on a log scale:
    the two energies differ in the third decimal, which side-by-side bars would hide."""
    figure = _figure(9.0, 4.0)
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    points = [(r.iteration, r.metrics.get("energy", r.loss)) for r in result.history]
    steps, energies = [p[0] for p in points], [p[1] for p in points]
    left.plot(steps, energies, color="tab:purple", label="VQE")
    left.axhline(exact, color="tab:grey", linestyle="--", label=f"exact diagonalization ({exact:.6f})")
    left.set_xlabel("iteration")
    left.set_ylabel("energy")
    left.legend(loc="upper right", fontsize=8)
    errors = [max(abs(e - exact), 1e-16) for e in energies]
    right.semilogy(steps, errors, color="tab:purple")
    if "energy_error" in result.metrics:
        right.axhline(max(result.metrics["energy_error"], 1e-16), color="black", linestyle=":",
                      label=f"final error {result.metrics['energy_error']:.2e}")
        right.legend(loc="upper right", fontsize=8)
    right.set_xlabel("iteration")
    right.set_ylabel("|E - E_exact|")
    figure.suptitle(f"{title}: quantum vs classical baseline")
    figure.tight_layout()
    figure.savefig(path, format="png")
