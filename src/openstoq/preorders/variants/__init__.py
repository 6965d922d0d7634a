"""Product variants: one variant's offers, counts and metafields, its repairs, and the bulk jobs
over many (``models``, ``service``, ``jobs``, ``actions``: the resource layout). URLs use the
Shopify variant id."""
