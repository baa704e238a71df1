"""The word2vec family: see family.py."""
