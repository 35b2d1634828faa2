"""Helpers the tests share: polling, sample events, harnesses, contracts and fakes."""
