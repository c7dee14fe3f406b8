"""Accuracy against labels, and fidelity of compiled models to their FP32 reference."""
