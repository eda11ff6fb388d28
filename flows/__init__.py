"""rowrelay's entry points: the batch flow, its deployment, and the `rowrelay` CLI.

Installed, this folder is `rowrelay.flows`; Prefect's defaults are set by `rowrelay` itself, which
Python imports before any of its subpackages.
"""
