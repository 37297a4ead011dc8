"""The self-hosted ``local`` provider: this machine probes, thumbnails and transcodes (PyAV)."""
