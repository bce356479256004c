"""lamina plugin oit (under construction)."""
