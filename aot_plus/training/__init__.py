"""VOST fine-tuning: the loss (`losses`), learning-rate / top-k / auxiliary-weight / EMA schedules and
optimiser param groups (`schedules`), and the EMA of the weights (`ema`)."""
