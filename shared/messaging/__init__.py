"""Events in and out of a service: the bus port and adapters, the outbox relay, the inbox consumer,
subscriptions and the supervised retry loop they run in."""
