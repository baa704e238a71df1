"""The video_texture family: see family.py."""
