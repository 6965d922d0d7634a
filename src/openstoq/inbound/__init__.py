"""Events coming in from the commerce platform: the signed webhook endpoint (``webhooks``), and the
ingest feature (``feature``): what each topic does to the mirror of catalog, inventory, customers and
preorder orders (``topics``, ``catalog``, ``orders``, ``privacy``), and the catalog import."""
