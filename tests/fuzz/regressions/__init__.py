"""Regression tests pinning the minimal inputs the fuzzer found."""
