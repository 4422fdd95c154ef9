"""Adversarial containers, tables and folders run through the real source loaders."""
