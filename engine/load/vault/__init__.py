"""Vault: encrypted values and files for inventories kept in git (keyring, inline values, files, password sources)."""
