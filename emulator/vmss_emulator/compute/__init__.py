"""Microsoft.Compute and resource groups: `models.py` the backend (state, no HTTP), `responses.py` the handlers."""
