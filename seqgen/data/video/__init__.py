"""Video clips: loading (clips), the generated clips with ground truth (generated), real clips fetched
through package managers (sources)."""
