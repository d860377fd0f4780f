"""Benchmarks of pfterm (run as scripts; importable as a package by the tests)."""
