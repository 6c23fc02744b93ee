"""Local stand-ins for Stripe, Braintree and Plaid that the official SDKs talk to unchanged.

One subpackage per provider (stripe/, braintree/, plaid/), each app built by its
`server.build_app`; `python -m paysaga.sandbox` runs all three (runner). Shared by
them: settings, faults (injection config and dice), control (the `/__sandbox/*`
pieces they have in common), webhook_sender, dropped (a response cut off mid-body),
persistence (Stripe and Braintree state across restarts) and testdata.
"""
