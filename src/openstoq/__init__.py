"""openstoq: a self-hostable server for the STOQ v2 external API."""

__version__ = "0.1.0"
