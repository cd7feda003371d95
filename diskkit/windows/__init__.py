"""Offline Windows: registry hives (via regipy), the BCD store, services, version, settings."""
