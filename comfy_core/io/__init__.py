"""Weight-file readers/writers (`checkpoint`) and image codecs (`png`, `webp`).

Import the submodules directly: this package must stay importable without torch (the server reads PNG
metadata), so nothing is re-exported here.
"""
