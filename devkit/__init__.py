"""Run the platform for development: its infrastructure (PostgreSQL, Kafka through deploy/local/*.sh) and
its services as OS processes. The test suites and the benchmarks both use it; it is not part of the
product wheel, and the product (``shared``, ``services``) never imports it."""
