"""Tests of neuratlas.lesion.connectomes: fetch, convert, register, read."""
