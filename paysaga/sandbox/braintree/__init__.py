"""The local Braintree gateway: state machine, XML wire shapes, server."""
