"""The runtime: Node.js, PGlite's npm packages in the cache, and the node process serving PGlite.

``node_packages`` finds Node and installs the pinned PGlite packages in the cache (``cache_safety``
refuses a cache another user could write to); ``process`` runs ``node/server.js`` on them.
"""
