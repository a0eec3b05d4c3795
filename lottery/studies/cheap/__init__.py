"""cheap study."""
