"""Provides the file transfer layer: deterministic packaging, encrypted chunks, manifests with a
Merkle root, envelopes for the recipient's key, an HTTP chunk server and a parallel fetcher over
direct TCP or Tor. Only `tor.py` talks to stem.
"""
