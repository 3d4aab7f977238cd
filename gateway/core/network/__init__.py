"""Node-to-node values: directory, node messages and receipts, directory snapshots, retry policy."""
