"""Network: member organisations of the Overseas Chinese Collaboration Network."""
