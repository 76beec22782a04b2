"""Model loading, the layer catalogue, forward hooks, and the Ultralytics wrapper."""
