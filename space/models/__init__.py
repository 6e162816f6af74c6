"""Learned stages of SPACE (Speech2Landmarks, pose, Landmarks2Latents) and the face-vid2vid networks."""
