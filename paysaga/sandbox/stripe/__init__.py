"""The local Stripe API: state machine, wire shapes, server."""
