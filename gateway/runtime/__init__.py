"""Processes and files: the composition root, the files the node writes, the server and worker processes."""
