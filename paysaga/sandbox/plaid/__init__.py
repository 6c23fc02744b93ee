"""The local Plaid API (`server.build_app`): state (link tokens, items, accounts),
server (endpoints, faults, webhooks), signing (ES256 webhook JWTs and the JWK).
"""
