"""The command line: thin click commands over ``qspec.api`` (``main`` is the group and the entry point).

Core code returns objects and never prints; only this package renders, on stdout (data) and stderr
(logs, progress, errors).
"""
