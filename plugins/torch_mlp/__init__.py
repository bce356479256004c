"""lamina plugin torch_mlp (under construction)."""
