"""Media I/O: probe, audio, video, images, mp4 writing, from local paths and fsspec URIs."""
