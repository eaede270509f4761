"""Prefect flows: thin wrappers that run the library's stages in order."""
