"""The gpt family: see family.py."""
