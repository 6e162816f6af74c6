"""Faces: 68-point 3D landmarks, head pose, SPACE's normalized landmark space, eyes, tracking."""
