"""Bring your own model: IMP, its controls and sparse export for any torch.nn.Module (notebook
09)."""
