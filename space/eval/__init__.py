"""Independent evaluation tools (lip sync, landmark models that are not the pipeline's own)."""
