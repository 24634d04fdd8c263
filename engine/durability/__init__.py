"""Durability: the canonical codec, the command journal, snapshots and crash recovery.

Everything perpspec reads back from disk passes through here; nothing in it selects code.
"""
