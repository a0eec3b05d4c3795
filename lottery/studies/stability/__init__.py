"""stability study."""
