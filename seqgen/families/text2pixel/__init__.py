"""The text2pixel family: see family.py."""
