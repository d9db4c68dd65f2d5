"""The protocol-free core: the operations both doors serve, and their parts."""
