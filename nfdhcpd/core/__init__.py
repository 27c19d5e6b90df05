"""The protocol core: bytes and state in, a decision out. No IO, no clock, no logging."""
