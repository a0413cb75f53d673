"""The one normaliser and vocabulary every check on names shares (below documents/ and the gate)."""
