"""``qspec monitor``'s pure half: baselines, measurements and rules in, checks and a verdict out.

``verdict.py`` decides (which threshold holds, which kind of drift an alert is); ``render.py`` shows
a ``Report`` as text or markdown. Nothing here imports MLflow, Qiskit or git: ``qspec.api.monitor``
measures (through ``qspec.quantum.monitor``) and records (through ``qspec.tracking.monitoring``).
"""
