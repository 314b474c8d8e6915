"""Cluster strategies for k2hdkc on Trove 18 (found by class path from the [k2hdkc]
api_strategy / taskmanager_strategy / guestagent_strategy options)."""
