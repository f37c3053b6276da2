"""Projects: signed cooperation projects and the Top-10 cases showcase."""
