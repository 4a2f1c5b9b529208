"""Events: what they are and how they are published.

- ``model``  event names, the envelope ``{"id", "event", "account", "date", "data"}``, event ids (pure).
- ``emit``   append an event to its account's stream and fan it out to webhooks in one step (storage).

May import: storage, webhooks.dispatcher (the dispatcher is passed in, not found).
Purity: model
"""
