"""Repositories: queries and writes for one aggregate each. They never commit."""
