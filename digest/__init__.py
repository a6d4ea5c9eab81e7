"""Trending Papers Digest: personal daily digests of new and trending research papers."""

__version__ = "0.1.0"
