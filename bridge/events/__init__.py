"""Events: what they are and how they are published.

- ``model``  event names, the envelope ``{"id", "event", "account", "date", "data"}``, event ids (pure).
- ``emit``   append an event to its account's stream and fan it out to webhooks in one step (storage).

May import: storage, jobs, webhooks (the dispatcher is passed in by the caller, never found in a global).
Purity: model
"""
