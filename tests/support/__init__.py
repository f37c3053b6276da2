"""Helpers the suites share (conftest files hold fixtures only): fakes for unit tests, in-process
deployments, request bodies, HTTP checks, the e2e scenario and the fault-injection load. The launchers
of real processes and infrastructure are in ``devkit`` (the benchmarks use them too)."""
