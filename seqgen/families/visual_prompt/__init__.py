"""Visual prompting: one pixel-token sequence model that does a task from examples."""
