"""The REST door: Connexion AsyncApp over openapi/authgate.yaml, a thin adapter over the core."""
