"""Datasets: the synthetic VOST-layout generator and the VOST readers."""
