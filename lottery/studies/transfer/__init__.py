"""transfer study."""
