"""The upsampler family: see family.py."""
