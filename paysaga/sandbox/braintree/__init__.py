"""The local Braintree gateway (`server.build_app`), one concern a module.

- model: the objects (vaulted cards, transactions); state: the vault and the
  transaction state machine; cards: the test nonces and amounts and what they do
- render: the wire shapes; xml_codec: the gateway's XML; errors and amounts: its
  validation errors and amount format
- search: transaction search; settlement: batches, the TestingGateway, tampering
- idempotency: the optional idempotency header; faults: how injected faults look
- routes: the API operations; control: the `/__sandbox/*` API; webhooks: what is
  notified when, signed by notify
- server: the request pipeline, the settler and the app
"""
