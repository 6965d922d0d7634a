"""Preorders: offers and their capabilities, product variants, and keeping storefronts in step.

``feature.FEATURE`` declares everything this package adds; nothing here registers itself on import.
"""
