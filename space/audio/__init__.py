"""Audio features for the model stages."""
