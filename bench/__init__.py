"""`make bench`: the platform measured against baselines in the same run (DESIGN.md §8, issue 7)."""
