"""Turning stored results into tables (terminal, CSV, JSON) and report files."""
