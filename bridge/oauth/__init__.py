"""OAuth 2.0 accounts: provider presets, the sign-in flow, token refresh, SASL.

- ``presets``  pure: each provider's endpoints, scopes and IMAP/SMTP hosts; the authorization URL.
- ``sasl``     pure: XOAUTH2 and OAUTHBEARER (RFC 7628) messages and the choice between them.
- ``pkce``     pure: state nonces and PKCE verifiers/challenges (RFC 7636).
- ``client``   I/O: the token and user-info endpoints over HTTP (httpx).
- ``tokens``   the token manager: one refresh at a time per account, fenced in Redis.
- ``flow``     the sign-in: a form URL, the provider's redirect, the callback.

May import: events, storage.
Purity: presets, sasl, pkce, identity
"""
