"""Helpers the suites share: fakes for unit tests, deployments and launchers for the others."""
