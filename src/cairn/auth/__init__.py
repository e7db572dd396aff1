"""Capability tokens (Biscuit, WAVE's model): keys, grants, attenuation, revocation."""
