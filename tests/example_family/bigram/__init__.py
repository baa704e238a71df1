"""The bigram family: see family.py."""
