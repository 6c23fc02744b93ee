"""The local Stripe API (`server.build_app`), one concern a module.

- state: the objects (customers, payment methods, intents, charges, refunds) and
  their state machine; cards: the test payment methods and what each one does
- render: the objects' wire JSON; errors: Stripe's error bodies; form: the form encoding
- refunds: refunds; settlement: balance transactions, ACH debits and returns, tampering
- search: the search and list endpoints
- idempotency: Idempotency-Key replay; faults: how injected faults look on the wire
- routes: the API operations; control: the `/__sandbox/*` API; webhooks: signed events
- server: the request pipeline, the settler and the app
"""
