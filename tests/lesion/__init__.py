"""Tests of neuratlas.lesion."""
