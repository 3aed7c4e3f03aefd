"""Provides everything that talks to Ethereum: artifacts, networks, devnet, wallet and the typed client.

Only this package imports web3.
"""
