"""lamina plugin subpixel (under construction)."""
