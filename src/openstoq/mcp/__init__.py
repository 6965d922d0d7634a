"""The MCP face: every registered action as one tool, over streamable HTTP and stdio.

``server.build_server`` turns the registry into a low-level SDK server; ``http.McpEndpoint``
authenticates the key and serves it at ``/api/v2/external/mcp``; ``stdio.serve_stdio`` serves it
to a local client for one key. Past auth, every call goes through ``Runtime.invoke``.
"""
