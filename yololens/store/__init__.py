"""Store: atomic writes, output-directory locks, resumable tables, manifests."""
