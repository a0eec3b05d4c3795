"""Open questions readers ask (notebook 08): width, initialization schemes, pruning recipes side by
side, and an information plane that can move."""
