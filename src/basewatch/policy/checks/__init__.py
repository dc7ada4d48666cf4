"""The built-in policies, one module per concern; each exports its `PolicySpec`s."""
