"""Preorders: offers, their capabilities, product variants, orders and reports."""
