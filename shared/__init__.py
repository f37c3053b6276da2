"""The platform every conference service stands on: settings, events, bus, outbox, inbox, HTTP."""
