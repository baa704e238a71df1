"""Data: where corpora come from (sources), offline preparation (prepare), batch streams (text)."""
