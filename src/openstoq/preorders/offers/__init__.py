"""Offers: the preorder selling plans, their lifecycle, schedules and history.

The resource layout every resource follows: ``models`` (request and response models), ``service``
(what the resource does, for a shop context and plain arguments; never sees HTTP or MCP),
``actions`` (the declarations: each handler translates and calls the service).
"""
