"""Data: audio I/O, mixture manifests, datasets (precomputed and dynamic mixing), corpus preparation."""
