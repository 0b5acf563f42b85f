"""Building blocks shared by the AOT and DeAOT models."""
