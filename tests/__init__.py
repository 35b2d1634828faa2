"""The modeltrail test suite."""
