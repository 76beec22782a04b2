"""Engine: threaded decode + letterbox batches, one forward pass with hooks, NMS, pooling."""
