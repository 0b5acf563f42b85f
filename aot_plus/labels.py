"""Label conventions shared by the datasets, the models and inference."""

IGNORE_ID = 255
"""The mask value of pixels to ignore (VOST's and DAVIS's void): no loss in training, an ignore id channel in
the memories."""
