"""The 2025 conference replay: drives the public HTTP APIs with realistic, reproducible data."""
