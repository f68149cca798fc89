"""Tests of pallet.base."""
