# The image `qspec render` points its manifests at by default (qspec:<version>): qspec and what it
# brings (MLflow, Qiskit, Aer, qiskit-ibm-runtime's fake devices), so that the container's
# `mlflow models serve -m models:/<model>@<stage> --env-manager local` can load and run a qspec model.
#
#   docker build -t qspec:0.1.0 .        # the version in pyproject.toml
#
# The command and its environment (MLFLOW_TRACKING_URI from a Secret, QSPEC_SERVING_TARGET/_SHOTS)
# come from the rendered manifests, not from here.
FROM python:3.11-slim

WORKDIR /opt/qspec
COPY pyproject.toml README.md ./
COPY qspec ./qspec
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 qspec

USER 10001
WORKDIR /home/qspec
EXPOSE 8080
CMD ["mlflow", "models", "serve", "--help"]
