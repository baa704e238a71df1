"""The ngram family: see family.py."""
