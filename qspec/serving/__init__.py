"""Serving a stage: how ``stages.<stage>.serving`` becomes a running ``mlflow models serve``.

``config`` picks the stage of a Deployment and builds the one configuration every way of serving
uses: the command (``mlflow models serve -m models:/<model>@<stage> --env-manager local``) and its
environment (``QSPEC_SERVING_TARGET``, ``QSPEC_SERVING_SHOTS``, which the pyfunc reads). ``render``
turns it into Kubernetes manifests or a compose file (pure: dicts in, dicts out); ``qspec serve``
(``qspec.api.serve``) runs it locally. Imports nothing heavy: specs, tags and errors only.
"""
