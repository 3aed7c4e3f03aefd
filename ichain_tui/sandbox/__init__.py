"""Provides the Docker sandbox: task specs, the offline runtime image, locked-down runs, GPU detection.

Only this package imports the docker SDK.
"""
